package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/janhq/jan/internal/auth"
)

// Problem codes this package adds to auth.Problem's.
const (
	CodeUnavailable   = auth.CodeIdentityUnavailable // 503: Keycloak unreachable or not answering
	CodeIdentityError = auth.CodeIdentityError       // 502: Keycloak answered with an error or garbage
	CodeNotAGuest     = "not_a_guest"                // 409
	CodeUsernameTaken = "username_taken"             // 409
	CodeEmailTaken    = "email_taken"                // 409
	CodeWeakPassword  = "weak_password"              // 400, as auth.ValidateUpgrade
)

// callError is one failed call to Keycloak: a transport failure (Status 0)
// or an unexpected answer. It carries what Keycloak said (its error code
// and a short description), never a token, secret or request body.
type callError struct {
	Op     string // e.g. "POST users"
	Status int    // HTTP status; 0 when no answer came
	Code   string // Keycloak's "error" or "errorMessage"
	Desc   string // Keycloak's "error_description"
	Err    error  // transport or decoding error
}

func (e *callError) Error() string {
	var b strings.Builder
	b.WriteString("keycloak: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Desc != "" {
		b.WriteString(": " + e.Desc)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *callError) Unwrap() error { return e.Err }

// unreachable reports whether no answer came back (refused, reset, timeout).
func (e *callError) unreachable() bool { return e.Status == 0 && !errors.Is(e.Err, errGarbage) }

var errGarbage = errors.New("malformed response")

// statusIs reports whether err is a callError with one of the statuses.
func statusIs(err error, statuses ...int) bool {
	var ce *callError
	if !errors.As(err, &ce) {
		return false
	}
	for _, s := range statuses {
		if ce.Status == s {
			return true
		}
	}
	return false
}

// problem turns a failure while doing what into the *auth.Problem the client
// sees: 503 identity_unavailable when Keycloak did not answer, 502
// identity_error when it answered wrongly. Problems and token errors pass
// through unchanged.
func problem(what string, err error) error {
	if err == nil {
		return nil
	}
	var p *auth.Problem
	var ae *auth.Error
	if errors.As(err, &p) || errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		// The caller left; the server decides what (if anything) to answer.
		return &auth.Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: what + ": cancelled", Err: err}
	}
	var ce *callError
	if errors.As(err, &ce) && ce.unreachable() || errors.Is(err, context.DeadlineExceeded) {
		return &auth.Problem{
			Status:  http.StatusServiceUnavailable,
			Code:    CodeUnavailable,
			Message: what + ": the identity provider (Keycloak) is unreachable or not answering; try again shortly",
			Err:     err,
		}
	}
	return &auth.Problem{
		Status:  http.StatusBadGateway,
		Code:    CodeIdentityError,
		Message: what + ": the identity provider (Keycloak) returned an error",
		Err:     err,
	}
}

// short keeps a Keycloak-supplied description printable and brief, so it
// can go into logs (and, for password policy failures, to the client).
func short(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func errInvalidRefresh() *auth.Error {
	return &auth.Error{Code: auth.CodeInvalidToken, Message: "invalid or expired refresh token"}
}
