package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/janhq/jan/internal/inference"
)

// The model catalog and provider list are jan-server's views of the
// models jan serves: from providers.yaml, completed by what the engines
// report.

type catalogJSON struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	DisplayName       string   `json:"display_name"`
	Family            string   `json:"family"`
	ContextLength     *int     `json:"context_length"` // null when neither providers.yaml nor the engine says
	Capabilities      []string `json:"capabilities"`
	SupportsImages    bool     `json:"supports_images"`
	SupportsReasoning bool     `json:"supports_reasoning"`
	Active            bool     `json:"active"`
}

type providerJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	BaseURL string `json:"base_url"`
	Active  bool   `json:"active"`
}

// modelLister is the part of the upstream client that asks an engine
// which models it serves (inference.Client).
type modelLister interface {
	ListModels(ctx context.Context, p *inference.Provider) ([]inference.ModelSpec, error)
}

// engineReports caches what each provider's GET /models said, so a
// catalog read asks an engine at most once a minute.
type engineReports struct {
	mu   sync.Mutex
	seen map[*inference.Provider]engineReport
}

type engineReport struct {
	at     time.Time
	models []inference.ModelSpec
}

const engineReportTTL = time.Minute

// report returns what p's engine reports (from cache when fresh); nil when
// it cannot be asked or does not answer within two seconds.
func (e *engineReports) report(ctx context.Context, up Upstream, p *inference.Provider) []inference.ModelSpec {
	lister, ok := up.(modelLister)
	if !ok {
		return nil
	}
	e.mu.Lock()
	r, ok := e.seen[p]
	e.mu.Unlock()
	if ok && time.Since(r.at) < engineReportTTL {
		return r.models
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	models, err := lister.ListModels(ctx, p)
	if err != nil {
		logFrom(ctx).Warn("model catalog: the engine did not list its models", "provider", p.Name, "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil || len(e.seen) > 1000 {
		e.seen = map[*inference.Provider]engineReport{}
	}
	e.seen[p] = engineReport{at: time.Now(), models: models} // a failure is remembered too: no retry storm
	return models
}

func (s *Server) getModelCatalog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rt, ok := s.models.Lookup(id)
	if !ok {
		writeError(w, r, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "id",
			Message: "model \"" + id + "\" is not served here; GET /v1/models lists the models"})
		return
	}
	var spec inference.ModelSpec
	for _, m := range rt.Provider.Models {
		if m.ServedName == rt.ServedName {
			spec = m
			break
		}
	}
	if spec.ContextLength == 0 {
		for _, m := range s.engineReports.report(r.Context(), s.upstream, rt.Provider) {
			if m.ServedName == rt.ServedName {
				spec.ContextLength = m.ContextLength
			}
		}
	}
	caps := slices.Clone(rt.Capabilities)
	if caps == nil {
		caps = []string{}
	}
	out := catalogJSON{ID: rt.PublicID, Object: "model_catalog", DisplayName: cmp.Or(spec.DisplayName, rt.PublicID),
		Family: cmp.Or(spec.Family, guessFamily(rt.ServedName)), Capabilities: caps,
		SupportsImages: slices.Contains(caps, inference.CapVision), SupportsReasoning: slices.Contains(caps, inference.CapReasoning),
		Active: true}
	if spec.ContextLength > 0 {
		out.ContextLength = &spec.ContextLength
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listModelProviders(w http.ResponseWriter, r *http.Request) {
	serving := map[string]bool{}
	for _, m := range s.models.Models() {
		serving[m.Provider] = true
	}
	out := []providerJSON{}
	for _, p := range s.models.Providers() {
		sum := sha256.Sum256([]byte(p.Name))
		out = append(out, providerJSON{ID: "prov_" + hex.EncodeToString(sum[:12]), Name: p.Name, Vendor: p.VendorName(),
			BaseURL: p.PublicBaseURL(), Active: serving[p.Name]})
	}
	writeJSON(w, http.StatusOK, out)
}

// guessFamily names a model's family from its name: the last path
// segment up to its size or variant ("Qwen/Qwen2.5-0.5B-Instruct" →
// "qwen2.5", "llama3.2:3b" → "llama3.2").
func guessFamily(name string) string {
	name = strings.ToLower(name[strings.LastIndexByte(name, '/')+1:])
	if i := strings.IndexAny(name, "-_:"); i > 0 {
		name = name[:i]
	}
	return name
}
