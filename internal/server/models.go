package server

import (
	"net/http"
	"time"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

type modelJSON struct {
	ID           string   `json:"id"`
	Object       string   `json:"object"`
	Created      int64    `json:"created"`
	OwnedBy      string   `json:"owned_by"`
	DisplayName  string   `json:"display_name,omitempty"`
	Capabilities []string `json:"capabilities"`
}

// created returns when jan first served each model (from the database,
// where start-up recorded them), read once.
func (s *Server) created(r *http.Request) map[string]time.Time {
	s.createdOnce.Do(func() {
		s.createdAt = map[string]time.Time{}
		models, err := s.store.ListModels(r.Context())
		if err != nil {
			logFrom(r.Context()).Warn("list models", "err", err)
			return
		}
		for _, m := range models {
			s.createdAt[m.ID] = m.Created
		}
	})
	return s.createdAt
}

func (s *Server) modelJSON(r *http.Request, m inference.Model) modelJSON {
	created, ok := s.created(r)[m.ID]
	if !ok {
		created = s.started
	}
	caps := m.Capabilities
	if caps == nil {
		caps = []string{}
	}
	return modelJSON{ID: m.ID, Object: "model", Created: created.Unix(), OwnedBy: m.Provider, DisplayName: m.DisplayName, Capabilities: caps}
}

// storeModels is the registry's models as the store records them (Created
// zero: the store keeps when each was first served).
func storeModels(ms []inference.Model) []store.Model {
	out := make([]store.Model, len(ms))
	for i, m := range ms {
		out[i] = store.Model{ID: m.ID, Provider: m.Provider, ServedName: m.ServedName, DisplayName: m.DisplayName, Capabilities: m.Capabilities}
	}
	return out
}

// storeUsage is an engine's token counts as the store keeps them.
func storeUsage(u *inference.Usage) *store.Usage {
	if u == nil {
		return nil
	}
	return &store.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	models := s.models.Models()
	out := make([]modelJSON, len(models))
	for i, m := range models {
		out[i] = s.modelJSON(r, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.models.Models() {
		if m.ID == id {
			writeJSON(w, http.StatusOK, s.modelJSON(r, m))
			return
		}
	}
	writeError(w, r, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: "model \"" + id + "\" is not served here; GET /v1/models lists the models"})
}
