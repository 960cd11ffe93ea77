package server

import (
	"errors"
	"net/http"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/store"
)

// Embedded-issuer routes: guest accounts and token refresh. (Upgrade, logout
// and API keys arrive with the identity issue.)

type tokenResponse struct {
	*auth.Tokens
	User userJSON `json:"user"`
}

type userJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Guest    bool   `json:"guest"`
}

func toUserJSON(u *store.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Guest: u.IsGuest}
}

func (s *Server) guest(w http.ResponseWriter, r *http.Request) {
	tokens, user, err := s.issuer.Guest(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenResponse{Tokens: tokens, User: toUserJSON(user)})
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		writeError(w, r, errInvalid("refresh_token", "missing_field", "refresh_token is required"))
		return
	}
	tokens, user, err := s.issuer.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{Tokens: tokens, User: toUserJSON(user)})
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

// token is the OAuth 2.0 token endpoint the discovery document advertises
// (form-encoded; grant_type=refresh_token). Its errors follow RFC 6749 §5.2,
// which OAuth clients expect, rather than jan's envelope.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	oauthError := func(status int, code, desc string) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		oauthError(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if rt == "" {
			oauthError(http.StatusBadRequest, "invalid_request", "refresh_token is required")
			return
		}
		tokens, _, err := s.issuer.Refresh(r.Context(), rt)
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
	case "":
		oauthError(http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		oauthError(http.StatusBadRequest, "unsupported_grant_type", "grant_type "+gt+" is not supported; use refresh_token")
	}
}
