package inference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Codes of *Error. The server puts them in the "code" field of its error
// envelope; 502 and 504 map to type "upstream_error".
const (
	CodeUnreachable = "upstream_unreachable" // 502: could not connect, DNS, reset before a response
	CodeTimeout     = "upstream_timeout"     // 504: no response headers in time, or the caller's deadline passed
	CodeUpstream    = "upstream_error"       // 502: upstream 5xx, or an error event inside a stream
	CodeRejected    = "upstream_rejected"    // upstream 4xx (same status; 401/403 become 502, see classifyStatus)
	CodeBadResponse = "upstream_bad_response"
	CodeCanceled    = "request_canceled" // 499: the caller's context was cancelled (the client went away)
	CodeBadRequest  = "invalid_request_body"
)

// StatusClientClosed is the status of an *Error caused by the caller
// cancelling the request (nginx's 499). Nobody is left to read it; it exists
// so logs and metrics can tell "client went away" from upstream failures.
const StatusClientClosed = 499

// Error is an upstream failure already classified for the client of jan.
//
//	connection refused / DNS / reset before response → 502 upstream_unreachable
//	timeout waiting for headers (or ctx deadline)      → 504 upstream_timeout
//	upstream 5xx                                       → 502 upstream_error
//	upstream 4xx                                       → same status, upstream_rejected
//	upstream 401/403 (jan's provider credentials)      → 502 upstream_rejected
//	2xx with a body that is not what was expected      → 502 upstream_bad_response
//	the caller's ctx was cancelled                     → 499 request_canceled
//
// Message is one sentence for users that names the provider and never
// contains its headers or API key. Err is the cause, for logs.
type Error struct {
	Status   int
	Code     string
	Message  string
	Provider string
	Err      error
	// RetryAfter is the upstream's Retry-After header on a 429 or 503, so
	// the server can pass it on; "" when absent.
	RetryAfter string
}

// Error returns the user message followed by the cause, for logs. Show
// users Message, not Error().
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// errHeaderTimeout is the cancel cause set when an upstream did not send
// response headers within ClientOptions.HeaderTimeout.
var errHeaderTimeout = errors.New("timeout awaiting response headers")

// providerLabel is how messages name a provider.
func providerLabel(name string) string {
	if name == "" {
		return "the model provider"
	}
	return fmt.Sprintf("provider %q", name)
}

// transportError classifies an error from http.Client.Do (no response).
// ctx is the caller's context; reqCtx the per-request one whose cause says
// whether the header timer fired.
func transportError(ctx, reqCtx context.Context, p *Provider, who string, err error) *Error {
	e := &Error{Provider: p.Name, Err: err}
	switch {
	case errors.Is(context.Cause(reqCtx), errHeaderTimeout):
		e.Status, e.Code = http.StatusGatewayTimeout, CodeTimeout
		e.Message = who + " did not start answering in time"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.Status, e.Code = http.StatusGatewayTimeout, CodeTimeout
		e.Message = who + " did not answer before the request deadline"
	case ctx.Err() != nil:
		e.Status, e.Code = StatusClientClosed, CodeCanceled
		e.Message = "the request to " + who + " was cancelled"
	default:
		e.Status, e.Code = http.StatusBadGateway, CodeUnreachable
		e.Message = unreachableMessage(who, p.host(), err)
	}
	return e
}

// unreachableMessage says in one sentence why a provider could not be
// reached, from the most specific cause in err's chain.
func unreachableMessage(who, host string, err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot reach %s: host %q not found", who, dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach %s at %s: connection refused (is it running?)", who, host)
	case errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout():
		return fmt.Sprintf("cannot reach %s at %s: connection timed out", who, host)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("%s at %s closed the connection before answering", who, host)
	default:
		return fmt.Sprintf("cannot reach %s at %s", who, host)
	}
}

// maxErrorBody bounds how much of a non-2xx body is read for its message.
const maxErrorBody = 64 << 10

// statusError classifies a non-2xx upstream response. It reads (a bounded
// part of) the body; the caller closes it.
func statusError(p *Provider, who string, resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	upstreamMsg := redact(upstreamMessage(body), p.Headers)
	st := resp.StatusCode
	e := &Error{
		Provider: p.Name,
		Err:      fmt.Errorf("upstream HTTP %d: %s", st, oneLine(string(body), 200)),
	}
	if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
		e.RetryAfter = resp.Header.Get("Retry-After")
	}
	switch {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		// The upstream refused jan's credentials, not the user's: passing a
		// 401 on would make SDKs report the user's key as invalid. The
		// upstream's message is dropped since it may echo part of the key.
		e.Status, e.Code = http.StatusBadGateway, CodeRejected
		e.Message = fmt.Sprintf("%s refused jan's credentials (HTTP %d); check its headers in providers.yaml", who, st)
	case st >= 400 && st < 500:
		e.Status, e.Code = st, CodeRejected
		if upstreamMsg != "" {
			e.Message = fmt.Sprintf("%s rejected the request: %s", who, upstreamMsg)
		} else {
			e.Message = fmt.Sprintf("%s rejected the request (HTTP %d)", who, st)
		}
	case st >= 300 && st < 400:
		e.Status, e.Code = http.StatusBadGateway, CodeUpstream
		e.Message = fmt.Sprintf("%s redirected the request (HTTP %d); check its base_url", who, st)
		if loc, err := resp.Location(); err == nil {
			e.Message = fmt.Sprintf("%s redirected the request to %s (HTTP %d); check its base_url", who, redactedURL(loc), st)
		}
	default: // 5xx
		e.Status, e.Code = http.StatusBadGateway, CodeUpstream
		if upstreamMsg != "" {
			e.Message = fmt.Sprintf("%s failed (HTTP %d): %s", who, st, upstreamMsg)
		} else {
			e.Message = fmt.Sprintf("%s failed (HTTP %d)", who, st)
		}
	}
	return e
}

// upstreamMessage extracts a human message from an error body in any of
// the shapes engines use: OpenAI {"error":{"message"}}, Ollama
// {"error":"..."}, vLLM {"object":"error","message"} and FastAPI
// {"detail":"..."}. "" when there is none.
func upstreamMessage(body []byte) string {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	if len(env.Error) > 0 {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		if json.Unmarshal(env.Error, &inner) == nil && inner.Message != "" {
			return oneLine(inner.Message, 500)
		}
		if json.Unmarshal(env.Error, &s) == nil && s != "" {
			return oneLine(s, 500)
		}
	}
	if env.Message != "" {
		return oneLine(env.Message, 500)
	}
	var s string
	if len(env.Detail) > 0 && json.Unmarshal(env.Detail, &s) == nil {
		return oneLine(s, 500)
	}
	return ""
}

// oneLine collapses whitespace runs (newlines included) to one space and
// cuts s to at most max bytes (on a rune boundary), marking the cut.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// redact removes provider header values (API keys) from msg in case an
// upstream echoes them back.
func redact(msg string, headers map[string]string) string {
	for _, v := range headers {
		for _, secret := range []string{v, strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))} {
			if len(secret) >= 8 && strings.Contains(msg, secret) {
				msg = strings.ReplaceAll(msg, secret, "[redacted]")
			}
		}
	}
	return msg
}

// badResponse is a 2xx body jan cannot use.
func badResponse(provider, what string, err error) *Error {
	return &Error{
		Status:   http.StatusBadGateway,
		Code:     CodeBadResponse,
		Message:  providerLabel(provider) + " " + what,
		Provider: provider,
		Err:      err,
	}
}
