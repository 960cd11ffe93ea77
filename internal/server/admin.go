package server

import (
	"context"
	"net/http"
	"time"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// Administrative routes: they need the admin role (requireAdmin).

type adminUserJSON struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	Guest     bool   `json:"guest"`
	CreatedAt int64  `json:"created_at"`
}

// listUsers lists every account of the embedded issuer, oldest first.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r, "asc")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if p.Order != "asc" {
		writeError(w, r, errInvalid("order", "invalid_order", "users are listed oldest first only"))
		return
	}
	users, more, err := s.store.ListUsers(r.Context(), p.Limit, p.After)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]adminUserJSON, len(users))
	for i, u := range users {
		out[i] = adminUserJSON{ID: u.ID, Object: "user", Username: u.Username, Email: u.Email, Guest: u.IsGuest, CreatedAt: u.CreatedAt.Unix()}
	}
	first, last := firstLast(users, func(u store.User) string { return u.ID })
	writeJSON(w, http.StatusOK, newList(out, more, first, last))
}

// syncModels looks for local engines started since jan did, registers
// their models and records every model in the database.
func (s *Server) syncModels(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	for _, p := range inference.Detect(ctx, inference.LocalCandidates, 400*time.Millisecond) {
		s.models.Add(p) // an engine already registered is ignored
	}
	if err := s.store.UpsertModels(r.Context(), storeModels(s.models.Models())); err != nil {
		writeError(w, r, err)
		return
	}
	s.listModels(w, r)
}
