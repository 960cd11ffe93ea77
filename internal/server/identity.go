package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/janhq/jan/internal/auth"
)

// The /auth routes: guest accounts, refresh, upgrade, logout, the principal,
// and the OAuth token endpoint. The identity provider (embedded issuer or
// Keycloak) does the work; these handlers only speak HTTP.

type tokenResponse struct {
	*auth.Tokens
	User *auth.Account `json:"user"`
	// jan-server's clients read these at the top level.
	UserID   string `json:"user_id"`
	Username string `json:"username"`
}

func newTokenResponse(t *auth.Tokens, acct *auth.Account) tokenResponse {
	out := tokenResponse{Tokens: t, User: acct}
	if acct != nil {
		out.UserID, out.Username = acct.ID, acct.Username
	}
	return out
}

func (s *Server) guest(w http.ResponseWriter, r *http.Request) {
	tokens, acct, err := s.identity.Guest(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newTokenResponse(tokens, acct))
}

// refreshToken reads the refresh token: {"refresh_token": "…"} in the
// body, or (jan-server's GET /auth/refresh-token and GET /auth/logout)
// as the bearer token.
func refreshToken(r *http.Request) (string, error) {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && len(body(r)) == 0 {
		if bearer = strings.TrimSpace(bearer); bearer != "" {
			return bearer, checkTokenLen(bearer)
		}
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if r.Method == http.MethodGet {
		return "", errInvalid("refresh_token", "missing_field", "send the refresh token as Authorization: Bearer")
	}
	if err := decodeJSON(r, &req); err != nil {
		return "", err
	}
	if req.RefreshToken == "" {
		return "", errInvalid("refresh_token", "missing_field", "refresh_token is required")
	}
	return req.RefreshToken, checkTokenLen(req.RefreshToken)
}

// checkTokenLen refuses a refresh token no issuer makes, before it is
// hashed, looked up or sent on to an identity provider.
func checkTokenLen(tok string) error {
	if len(tok) > auth.MaxTokenLen {
		return errInvalid("refresh_token", "invalid_value", "refresh_token is longer than %d bytes", auth.MaxTokenLen)
	}
	return nil
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	rt, err := refreshToken(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	tokens, acct, err := s.identity.Refresh(r.Context(), rt)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newTokenResponse(tokens, acct))
}

// upgrade turns the calling guest into a user; its conversations stay its own.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	var req auth.Upgrade
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	if !p.IsGuest {
		writeError(w, r, &auth.Problem{Status: http.StatusConflict, Code: "not_a_guest", Message: "this account is already a user; only guests can upgrade"})
		return
	}
	tokens, acct, err := s.identity.Upgrade(r.Context(), p, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newTokenResponse(tokens, acct))
}

// logout revokes a refresh token; it answers 204 whether or not the token
// was live, so it leaks nothing.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	rt, err := refreshToken(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.identity.Logout(r.Context(), rt); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": p.ID, "object": "principal", "username": p.Username, "guest": p.IsGuest, "scopes": scopes, "auth_method": p.AuthMethod,
	})
}

// passwordLogin is implemented by identity providers that check passwords
// themselves (the embedded issuer).
type passwordLogin interface {
	Login(ctx context.Context, username, password string) (*auth.Tokens, *auth.Account, error)
}

// token is the OAuth 2.0 token endpoint the discovery document advertises
// (form-encoded; grant_type refresh_token or password). Its errors follow
// RFC 6749 §5.2, which OAuth clients expect, rather than jan's envelope.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	oauthError := func(status int, code, desc string) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		oauthError(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	var tokens *auth.Tokens
	var err error
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if rt == "" {
			oauthError(http.StatusBadRequest, "invalid_request", "refresh_token is required")
			return
		}
		tokens, _, err = s.identity.Refresh(r.Context(), rt)
	case "password":
		pl, ok := s.identity.(passwordLogin)
		if !ok {
			oauthError(http.StatusBadRequest, "unsupported_grant_type", "password login goes to the identity provider")
			return
		}
		user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
		if user == "" || pass == "" {
			oauthError(http.StatusBadRequest, "invalid_request", "username and password are required")
			return
		}
		if checkText("username", user) != nil {
			oauthError(http.StatusBadRequest, "invalid_request", "username must be UTF-8 text without NUL characters")
			return
		}
		tokens, _, err = pl.Login(r.Context(), user, pass)
	case "":
		oauthError(http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		oauthError(http.StatusBadRequest, "unsupported_grant_type", "grant_type "+gt+" is not supported; use refresh_token or password")
		return
	}
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			oauthError(http.StatusBadRequest, "invalid_grant", ae.Message)
			return
		}
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokens)
}

// requireAdmin guards administrative routes.
func (s *Server) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(principal(r).Scopes, auth.ScopeAdmin) {
			writeError(w, r, &apiError{Status: http.StatusForbidden, Type: "auth_error", Code: "admin_required", Message: "this route needs the admin role"})
			return
		}
		next(w, r)
	}
}
