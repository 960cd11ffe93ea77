// Package auth owns who a request acts for: the Principal, the Verifier that
// turns a bearer token into one, and the Issuer that lets jan be its own
// OpenID Connect issuer in embedded mode (signing key, guest and refreshed
// tokens, discovery document and JWKS).
//
// Both modes verify tokens with the same go-oidc code; only the key set
// differs (a static key for the embedded issuer, a remote JWKS for Keycloak).
//
// The package does not know about HTTP routing, error envelopes or API keys:
// the server maps *Error to a 401 and decides which routes are public.
package auth

import "context"

// How a request authenticated, as reported in X-Auth-Method.
const (
	MethodJWT    = "jwt"
	MethodAPIKey = "api_key"
)

// Scopes (and Keycloak realm roles) jan grants.
const (
	ScopeGuest = "guest"
	ScopeUser  = "user"
	ScopeAdmin = "admin" // administrative routes (model sync, listing users)
)

// Principal is who a request acts for. Treat it as read-only: the verifier
// may hand the same Scopes slice to many requests.
type Principal struct {
	ID         string
	Username   string
	Scopes     []string
	IsGuest    bool
	AuthMethod string // MethodJWT | MethodAPIKey
	Session    string // the sign-in its token belongs to (sid), if the token names one
}

type principalKey struct{}

// NewContext returns a copy of ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal NewContext stored in ctx, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// Error is why a token was refused. Code is one of the Code* constants and
// Message is safe to show to the client: it never carries internals.
type Error struct {
	Code    string
	Message string
}

// Error codes.
const (
	CodeMissingToken = "missing_token"
	CodeInvalidToken = "invalid_token"
	CodeExpiredToken = "expired_token"
	CodeSessionEnded = "session_ended"
)

func (e *Error) Error() string { return e.Message }

func errMissing() *Error { return &Error{Code: CodeMissingToken, Message: "missing bearer token"} }
func errInvalid() *Error { return &Error{Code: CodeInvalidToken, Message: "invalid token"} }
func errExpired() *Error { return &Error{Code: CodeExpiredToken, Message: "token has expired"} }
