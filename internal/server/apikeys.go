package server

import (
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/store"
)

type apiKeyJSON struct {
	ID         string   `json:"id"`
	Object     string   `json:"object"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Key        string   `json:"key,omitempty"` // only in the response that creates it
	CreatedAt  int64    `json:"created_at"`
	LastUsedAt *int64   `json:"last_used_at"`
	ExpiresAt  *int64   `json:"expires_at"`
	Scopes     []string `json:"scopes"`
}

func toAPIKeyJSON(k *store.APIKey) apiKeyJSON {
	j := apiKeyJSON{ID: k.ID, Object: "api_key", Name: k.Name, Prefix: k.Prefix + "…", CreatedAt: k.CreatedAt.Unix(), Scopes: k.Scopes}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	if k.LastUsedAt != nil {
		t := k.LastUsedAt.Unix()
		j.LastUsedAt = &t
	}
	if k.ExpiresAt != nil {
		t := k.ExpiresAt.Unix()
		j.ExpiresAt = &t
	}
	return j
}

// maxKeyLifetime bounds expires_in: ten years.
const maxKeyLifetime = 10 * 365 * 24 * 3600

// keyManager refuses key management to guests and to API keys themselves: a
// leaked key must not be able to mint more keys.
func keyManager(p *auth.Principal) error {
	switch {
	case p.IsGuest:
		return &apiError{Status: http.StatusForbidden, Type: "auth_error", Code: "guest_not_allowed",
			Message: "guests cannot create API keys; upgrade the account first (POST /auth/upgrade)"}
	case p.AuthMethod == auth.MethodAPIKey:
		return &apiError{Status: http.StatusForbidden, Type: "auth_error", Code: "token_required",
			Message: "API keys are managed with a login token, not with an API key"}
	}
	return nil
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		ExpiresIn *int64 `json:"expires_in"` // seconds; absent or null: never
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.Name == "" || utf8.RuneCountInString(req.Name) > 64 {
		writeError(w, r, errInvalid("name", "invalid_name", "name is required and at most 64 characters"))
		return
	}
	if err := checkText("name", req.Name); err != nil {
		writeError(w, r, err)
		return
	}
	if req.ExpiresIn != nil && (*req.ExpiresIn < 1 || *req.ExpiresIn > maxKeyLifetime) {
		writeError(w, r, errInvalid("expires_in", "invalid_value", "expires_in is in seconds, from 1 to %d (ten years)", maxKeyLifetime))
		return
	}
	p := principal(r)
	if err := keyManager(p); err != nil {
		writeError(w, r, err)
		return
	}
	secret, hash, prefix, err := auth.NewAPIKey()
	if err != nil {
		writeError(w, r, err)
		return
	}
	k := &store.APIKey{UserID: p.ID, Username: p.Username, Scopes: p.Scopes, Name: req.Name, Prefix: prefix, Hash: hash}
	if req.ExpiresIn != nil {
		at := time.Now().Add(time.Duration(*req.ExpiresIn) * time.Second).UTC().Truncate(time.Second)
		k.ExpiresAt = &at
	}
	markExecuted(w)
	if err := s.store.CreateAPIKey(r.Context(), k); err != nil {
		writeError(w, r, err)
		return
	}
	j := toAPIKeyJSON(k)
	j.Key = secret
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	out, err := s.apiKeyList(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	first, last := firstLast(out, func(k apiKeyJSON) string { return k.ID })
	writeJSON(w, http.StatusOK, newList(out, false, first, last))
}

// listAuthAPIKeys is jan-server's GET /auth/api-keys: {"items":[…]}.
func (s *Server) listAuthAPIKeys(w http.ResponseWriter, r *http.Request) {
	out, err := s.apiKeyList(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) apiKeyList(r *http.Request) ([]apiKeyJSON, error) {
	p := principal(r)
	if err := keyManager(p); err != nil {
		return nil, err
	}
	keys, err := s.store.ListAPIKeys(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]apiKeyJSON, len(keys))
	for i := range keys {
		out[i] = toAPIKeyJSON(&keys[i])
	}
	return out, nil
}

// deleteAPIKey revokes a key; it stops working at once on this server.
func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.revokeAPIKey(r, id); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "api_key.deleted", "deleted": true})
}

// deleteAuthAPIKey is jan-server's DELETE /auth/api-keys/{id}: 204.
func (s *Server) deleteAuthAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := s.revokeAPIKey(r, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) revokeAPIKey(r *http.Request, id string) error {
	p := principal(r)
	if err := keyManager(p); err != nil {
		return err
	}
	if err := s.store.DeleteAPIKey(r.Context(), p.ID, id); err != nil {
		return notFoundAs(err, "api_key_not_found", "API key %q not found", id)
	}
	s.apiKeys.Forget(id)
	return nil
}
