package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/responses"
	"github.com/janhq/jan/internal/store"
)

// apiError is the one error shape of the API (see API.md "Errors").
type apiError struct {
	Status  int
	Type    string
	Code    string
	Message string
	Param   string
	// RetryAfter is sent as Retry-After (seconds) on 429 and 503.
	RetryAfter string
}

func (e *apiError) Error() string { return e.Message }

func errInvalid(param, code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

func errNotFound(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: code, Message: fmt.Sprintf(format, args...)}
}

func errUnauthorized(code, msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Type: "auth_error", Code: code, Message: msg}
}

var errDBUnavailable = &apiError{Status: http.StatusServiceUnavailable, Type: "unavailable_error", Code: "database_unavailable",
	Message: "the database is unavailable; try again shortly", RetryAfter: "2"}

// errClientGone stands for a request whose client went away (nginx's 499).
var errClientGone = &apiError{Status: 499, Type: "invalid_request_error", Code: "client_closed_request",
	Message: "the client closed the request"}

var errInternal = &apiError{Status: http.StatusInternalServerError, Type: "internal_error", Code: "internal_error",
	Message: "internal error; the request id identifies it in the server log"}

// errorBody is the JSON envelope; code and param are always present.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Type      string  `json:"type"`
	Code      *string `json:"code"`
	Message   string  `json:"message"`
	Param     *string `json:"param"`
	RequestID string  `json:"request_id"`
}

func (e *apiError) body(requestID string) errorBody {
	f := errorFields{Type: e.Type, Message: e.Message, RequestID: requestID}
	if e.Code != "" {
		f.Code = &e.Code
	}
	if e.Param != "" {
		f.Param = &e.Param
	}
	return errorBody{Error: f}
}

// toAPIError maps any error from the layers below to the API's error, in one
// place. Unknown errors become a 500 and are logged with the request id.
func toAPIError(ctx context.Context, err error) *apiError {
	var ae *apiError
	var ue *inference.Error
	var authErr *auth.Error
	var problem *auth.Problem
	var maxErr *http.MaxBytesError
	var fieldErr *responses.FieldError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fieldErr):
		return errInvalid(fieldErr.Param, fieldErr.Code, "%s", fieldErr.Message)
	case errors.As(err, &ue):
		typ := "upstream_error"
		switch {
		case ue.Status == http.StatusTooManyRequests:
			typ = "rate_limit_error"
		case ue.Status >= 400 && ue.Status < 500:
			typ = "invalid_request_error"
		}
		return &apiError{Status: ue.Status, Type: typ, Code: ue.Code, Message: ue.Message, RetryAfter: ue.RetryAfter}
	case errors.As(err, &authErr):
		return errUnauthorized(authErr.Code, authErr.Message)
	case errors.As(err, &problem):
		typ := "invalid_request_error"
		switch {
		case problem.Status == http.StatusServiceUnavailable:
			typ = "unavailable_error"
		case problem.Status >= 500:
			typ = "upstream_error"
		}
		if problem.Status >= 500 {
			logFrom(ctx).Error("identity provider", "err", err)
		}
		return &apiError{Status: problem.Status, Type: typ, Code: problem.Code, Param: problem.Param, Message: problem.Message}
	case errors.As(err, &maxErr):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
			Message: "request body is larger than the limit of " + strconv.FormatInt(maxErr.Limit, 10) + " bytes"}
	case errors.Is(err, auth.ErrBusy):
		return &apiError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "auth_busy", RetryAfter: "1",
			Message: "too many sign-ins are being checked right now; retry in a second"}
	case errors.Is(err, store.ErrUnavailable):
		logFrom(ctx).Error("database unavailable", "err", err)
		return errDBUnavailable
	case errors.Is(err, store.ErrBadCursor):
		return errInvalid("after", "invalid_cursor", "after: not a cursor from this list")
	case errors.Is(err, store.ErrNotFound):
		return errNotFound("not_found", "not found")
	case errors.Is(err, store.ErrInvalidText):
		return errInvalid("", "invalid_text", "text must be UTF-8 without NUL characters")
	case errors.Is(err, store.ErrConflict):
		return &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Message: "already exists"}
	case errors.Is(err, context.Canceled):
		return errClientGone // nobody to tell, nothing to log
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Type: "upstream_error", Code: "timeout", Message: "the request timed out"}
	}
	logFrom(ctx).Error("internal error", "err", err)
	return errInternal
}

// writeError writes err as the error envelope.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(r.Context(), err)
	if ae.RetryAfter != "" {
		w.Header().Set("Retry-After", ae.RetryAfter)
	} else if ae.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.Status, ae.body(requestID(r.Context())))
}

// writeJSON writes v with status. Encoding errors only happen for values we
// built ourselves, so they are logged, not returned.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"internal_error","code":"internal_error","message":"internal error","param":null}}`)
	}
	writeRawJSON(w, status, b)
}

// contentTypeJSON is the Content-Type header's value for JSON, shared:
// header values are replaced, never changed in place.
var contentTypeJSON = []string{"application/json"}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
