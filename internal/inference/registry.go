package inference

import (
	"cmp"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Route is where requests for one public model id go.
type Route struct {
	PublicID     string
	ServedName   string
	Provider     *Provider
	Capabilities []string
}

// Supports reports whether the model has a capability (CapChat, ...).
func (r Route) Supports(capability string) bool {
	return slices.Contains(r.Capabilities, capability)
}

// entry is a route plus what only the model list needs.
type entry struct {
	Route
	displayName string // defaults to the public id
}

// Registry maps public model ids to providers. It is safe for concurrent
// use; providers and routes it hands out must not be modified.
type Registry struct {
	mu              sync.RWMutex
	providers       []*Provider
	byName          map[string]*Provider
	routes          map[string]entry
	order           []string // public ids in the order they were added
	defaultProvider string
}

// NewRegistry builds a registry from a parsed providers.yaml; cfg may be nil.
func NewRegistry(cfg *Config) *Registry {
	r := &Registry{byName: map[string]*Provider{}, routes: map[string]entry{}}
	if cfg != nil {
		r.defaultProvider = cfg.DefaultProvider
		for _, p := range cfg.Providers {
			r.Add(p)
		}
	}
	return r
}

// Add registers a provider (a detected engine, an --engine URL). It is
// copied. A name already taken gets a "-2", "-3", ... suffix; a provider
// without a name is named after its host. Public ids stay unique: the first
// provider to serve an id keeps it and later ones are reachable as
// "<provider>/<id>". A detected provider (Detected set) at an endpoint
// that is already registered is ignored, so an engine both configured and
// auto-detected is not listed twice.
func (r *Registry) Add(p Provider) {
	p = cloneProvider(p)
	if p.Kind == "" {
		p.Kind = KindOpenAI
	}
	r.mu.Lock()
	defer r.mu.Unlock()

	if p.Detected {
		key := endpointKey(&p)
		for _, q := range r.providers {
			if endpointKey(q) == key {
				return
			}
		}
	}

	if p.Name == "" {
		p.Name = p.host()
	}
	base := p.Name
	for i := 2; r.byName[p.Name] != nil; i++ {
		p.Name = base + "-" + strconv.Itoa(i)
	}
	prov := &p
	r.providers = append(r.providers, prov)
	r.byName[prov.Name] = prov

	for _, m := range prov.Models {
		if m.ID == "" {
			continue
		}
		id := m.ID
		if _, taken := r.routes[id]; taken {
			id = prov.Name + "/" + m.ID
			if _, taken := r.routes[id]; taken {
				continue // only reachable through a contrived naming clash
			}
		}
		r.routes[id] = entry{
			Route:       Route{PublicID: id, ServedName: m.ServedName, Provider: prov, Capabilities: m.Capabilities},
			displayName: cmp.Or(m.DisplayName, id),
		}
		r.order = append(r.order, id)
	}
}

// Lookup finds the route of a public model id. "<provider>/<id>" also
// addresses a model of a named provider when the id is taken by another.
func (r *Registry) Lookup(publicID string) (Route, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e, ok := r.routes[publicID]; ok {
		return e.Route, true
	}
	name, id, ok := strings.Cut(publicID, "/")
	if !ok {
		return Route{}, false
	}
	prov := r.byName[name]
	if prov == nil {
		return Route{}, false
	}
	for _, m := range prov.Models {
		if m.ID == id {
			return Route{PublicID: publicID, ServedName: m.ServedName, Provider: prov, Capabilities: m.Capabilities}, true
		}
	}
	return Route{}, false
}

// Model is a model the registry serves, by its public id.
type Model struct {
	ID           string // public id
	Provider     string
	ServedName   string // what the engine calls it
	DisplayName  string
	Capabilities []string
}

// Models lists every public model in registration order.
func (r *Registry) Models() []Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Model, 0, len(r.order))
	for _, id := range r.order {
		e := r.routes[id]
		out = append(out, Model{
			ID:           id,
			Provider:     e.Provider.Name,
			ServedName:   e.ServedName,
			DisplayName:  e.displayName,
			Capabilities: slices.Clone(e.Capabilities),
		})
	}
	return out
}

// DefaultModel is the public id of the first model of routing's default
// provider, else of the first provider that has models; "" when there are
// none.
func (r *Registry) DefaultModel() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if p := r.byName[r.defaultProvider]; p != nil && len(p.Models) > 0 {
		if id := r.publicID(p, p.Models[0]); id != "" {
			return id
		}
	}
	for _, p := range r.providers {
		for _, m := range p.Models {
			if id := r.publicID(p, m); id != "" {
				return id
			}
		}
	}
	return ""
}

// publicID is the id under which p's model m is routed, "" if none.
func (r *Registry) publicID(p *Provider, m ModelSpec) string {
	for _, id := range []string{m.ID, p.Name + "/" + m.ID} {
		if e, ok := r.routes[id]; ok && e.Provider == p {
			return id
		}
	}
	return ""
}

// Providers returns the registered providers in order. Do not modify them.
func (r *Registry) Providers() []*Provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.providers)
}

func cloneProvider(p Provider) Provider {
	p.Headers = maps.Clone(p.Headers)
	p.Models = slices.Clone(p.Models)
	for i := range p.Models {
		m := &p.Models[i]
		if m.ServedName == "" {
			m.ServedName = m.ID
		}
		if m.Capabilities == nil {
			m.Capabilities = defaultCapabilities
		}
		m.Capabilities = slices.Clone(m.Capabilities)
	}
	return p
}

// endpointKey identifies where a provider's API is, so that
// http://localhost:11434 and http://127.0.0.1:11434/v1/ compare equal.
func endpointKey(p *Provider) string {
	u, err := url.Parse(p.URL("/"))
	if err != nil {
		return p.BaseURL
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	switch host {
	case "localhost", "127.0.0.1", "::1", "0.0.0.0":
		host = "loopback"
	}
	return strings.ToLower(u.Scheme + "://" + net.JoinHostPort(host, port) + u.Path)
}
