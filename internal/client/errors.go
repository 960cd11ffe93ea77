package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is jan's error envelope: what the server said went wrong.
type Error struct {
	StatusCode int    `json:"-"` // HTTP status; 0 for an error event inside a stream
	Type       string `json:"type"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Param      string `json:"param"`
	RequestID  string `json:"request_id"`
	// RetryAfter is the server's Retry-After on 429 and 503.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Message == "" {
		b.WriteString(http.StatusText(e.StatusCode))
	}
	var meta []string
	if e.Code != "" {
		meta = append(meta, e.Code)
	}
	if e.StatusCode != 0 {
		meta = append(meta, "HTTP "+strconv.Itoa(e.StatusCode))
	}
	if e.RequestID != "" {
		meta = append(meta, "request "+e.RequestID)
	}
	if len(meta) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(meta, ", "))
	}
	return b.String()
}

// errorEnvelope decodes {"error": {...}}; code and param may be null.
type errorEnvelope struct {
	Error *struct {
		Type      string  `json:"type"`
		Code      *string `json:"code"`
		Message   string  `json:"message"`
		Param     *string `json:"param"`
		RequestID string  `json:"request_id"`
	} `json:"error"`
}

// parseError reads an error envelope; ok is false when body is not one.
func parseError(body []byte) (*Error, bool) {
	var env errorEnvelope
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		return nil, false
	}
	e := &Error{Type: env.Error.Type, Message: env.Error.Message, RequestID: env.Error.RequestID}
	if env.Error.Code != nil {
		e.Code = *env.Error.Code
	}
	if env.Error.Param != nil {
		e.Param = *env.Error.Param
	}
	return e, true
}

// responseError turns a non-2xx response into an *Error, even when the body
// is not an envelope (a proxy's HTML page, say).
func responseError(res *http.Response, body []byte) *Error {
	e, ok := parseError(body)
	if !ok {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg == "" || strings.HasPrefix(msg, "<") {
			msg = http.StatusText(res.StatusCode)
		}
		e = &Error{Message: msg, RequestID: res.Header.Get("X-Request-Id")}
	}
	e.StatusCode = res.StatusCode
	if s := res.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// UnreachableError means no HTTP answer came back: the server is down, the
// URL is wrong, or the connection dropped.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach jan at %s: %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// ErrStreamCut is returned by Stream.Err when the stream ended before the
// server's [DONE]: the connection dropped mid-answer.
var ErrStreamCut = errors.New("the stream ended before the answer was complete")

// IsUnreachable reports whether err means the server could not be reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// StatusCode returns the HTTP status of an *Error in err's chain, else 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// Hint is one line telling a person what to do about err, or "".
func Hint(err error, server string) string {
	var e *Error
	switch {
	case IsUnreachable(err):
		return "Is jan running? Start it with `jan up --embedded`, or point at another server with --server or JAN_SERVER_URL (now " + server + ")."
	case errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized:
		return "Get a fresh token with `jan guest` (or unset JAN_TOKEN)."
	case errors.As(err, &e) && e.Code == "model_not_found":
		return "List the models this server has with `jan models`."
	case errors.As(err, &e) && e.StatusCode == http.StatusTooManyRequests:
		return "The server is rate limiting you; wait a moment and try again."
	}
	return ""
}
