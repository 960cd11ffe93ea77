package server

import (
	"net/http"

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

func toModelJSON(m store.Model) modelJSON {
	caps := m.Capabilities
	if caps == nil {
		caps = []string{}
	}
	return modelJSON{ID: m.ID, Object: "model", Created: m.Created.Unix(), OwnedBy: m.Provider, DisplayName: m.DisplayName, Capabilities: caps}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	models := s.models.Models()
	out := make([]modelJSON, len(models))
	for i, m := range models {
		out[i] = toModelJSON(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.models.Models() {
		if m.ID == id {
			writeJSON(w, http.StatusOK, toModelJSON(m))
			return
		}
	}
	writeError(w, r, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: "model \"" + id + "\" is not served here; GET /v1/models lists the models"})
}
