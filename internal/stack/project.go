package stack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/janhq/jan/assets"
)

// DefaultProject is the Compose project every container, network and
// volume of the stack is named and labelled with
// (com.docker.compose.project), unless JAN_PROJECT names another: two
// stacks on one engine (or tests beside a developer's stack) differ by it.
const DefaultProject = "jan"

// ProjectEnv names the project in the interpolation environment.
const ProjectEnv = "JAN_PROJECT"

// ProjectFrom returns the project env names, checked.
func ProjectFrom(env map[string]string) (string, error) {
	name := env[ProjectEnv]
	if name == "" {
		return DefaultProject, nil
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_')
		if !ok {
			return "", fmt.Errorf("stack: %s=%q: use lower-case letters, digits, - and _ (starting with a letter or digit)", ProjectEnv, name)
		}
	}
	return name, nil
}

// Profile selects the inference engine of the stack.
type Profile string

const (
	ProfileGPU Profile = "gpu" // vllm-llama on an NVIDIA GPU
	ProfileCPU Profile = "cpu" // vllm-cpu
	// ProfileExternal: no vLLM container; the server uses an engine that
	// already runs (--inference external).
	ProfileExternal Profile = "external"
)

// ParseProfile accepts "gpu" or "cpu".
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(strings.ToLower(strings.TrimSpace(s))); p {
	case ProfileGPU, ProfileCPU:
		return p, nil
	}
	return "", fmt.Errorf("stack: unknown profile %q: want gpu or cpu", s)
}

// Service names, as in the seed and DESIGN.md §8.
const (
	ServiceAPIDB         = "api-db"
	ServiceKeycloakDB    = "keycloak-db"
	ServiceKeycloak      = "keycloak"
	ServiceKong          = "kong"
	ServiceOtelCollector = "otel-collector"
	ServiceVLLMGPU       = "vllm-llama"
	ServiceVLLMCPU       = "vllm-cpu"
)

// ImageEnv is the variable that overrides a service's image:
// JAN_IMAGE_<SERVICE>, upper case, '-' → '_' (JAN_IMAGE_API_DB).
func ImageEnv(service string) string {
	return "JAN_IMAGE_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
}

// Project is the stack for one profile: the loaded Compose project and its
// services in the order they must start.
type Project struct {
	Name     string // the Compose project (DefaultProject unless JAN_PROJECT)
	Profile  Profile
	Compose  *types.Project
	Services []types.ServiceConfig // dependencies first
}

// Load reads the embedded compose.yaml for profile, interpolating ${VAR}s
// from env only (secrets, overrides, the user's environment and .env, as
// the caller merged them); the process environment is never read here.
func Load(ctx context.Context, profile Profile, env map[string]string) (*Project, error) {
	return LoadBytes(ctx, assets.ComposeYAML, profile, env)
}

// LoadBytes is Load over another compose file (tests, future overrides).
func LoadBytes(ctx context.Context, compose []byte, profile Profile, env map[string]string) (*Project, error) {
	if profile != ProfileExternal {
		if _, err := ParseProfile(string(profile)); err != nil {
			return nil, err
		}
	}
	name, err := ProjectFrom(env)
	if err != nil {
		return nil, err
	}
	mapping := types.Mapping{}
	for k, v := range env {
		mapping[k] = v
	}
	details := types.ConfigDetails{
		// Relative paths (configs' ./kong.yml) stay names of embedded
		// assets; nothing is read from this directory.
		WorkingDir:  "/",
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: compose}},
		Environment: mapping,
	}
	p, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(name, true)
		o.Profiles = []string{string(profile)}
		o.ResolvePaths = false
		o.SkipResolveEnvironment = false
	})
	if err != nil {
		return nil, fmt.Errorf("stack: compose file (profile %s): %w", profile, err)
	}
	order, err := dependencyOrder(p.Services)
	if err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("stack: compose file has no services for profile %s", profile)
	}
	return &Project{Name: name, Profile: profile, Compose: p, Services: order}, nil
}

// Service returns the named service of the project.
func (p *Project) Service(name string) (types.ServiceConfig, bool) {
	s, ok := p.Compose.Services[name]
	return s, ok
}

// Names returns the service names in start order.
func (p *Project) Names() []string {
	names := make([]string, len(p.Services))
	for i, s := range p.Services {
		names[i] = s.Name
	}
	return names
}

// errCycle is wrapped by dependencyOrder's cycle error.
var errCycle = errors.New("dependency cycle")

// dependencyOrder sorts services so each comes after everything in its
// depends_on; among services that are ready together, by name, so the order
// (and the output people read) is stable.
func dependencyOrder(services types.Services) ([]types.ServiceConfig, error) {
	indeg := map[string]int{}
	dependents := map[string][]string{}
	for name, s := range services {
		indeg[name] += 0
		for dep := range s.DependsOn {
			if _, ok := services[dep]; !ok {
				if s.DependsOn[dep].Required {
					return nil, fmt.Errorf("stack: service %s depends on %s, which is not in this profile", name, dep)
				}
				continue
			}
			indeg[name]++
			dependents[dep] = append(dependents[dep], name)
		}
	}
	var ready []string
	for name, n := range indeg {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	out := make([]types.ServiceConfig, 0, len(services))
	for len(ready) > 0 {
		sort.Strings(ready)
		name := ready[0]
		ready = ready[1:]
		out = append(out, services[name])
		for _, d := range dependents[name] {
			if indeg[d]--; indeg[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(out) != len(services) {
		var stuck []string
		for name, n := range indeg {
			if n > 0 {
				stuck = append(stuck, name)
			}
		}
		sort.Strings(stuck)
		return nil, fmt.Errorf("stack: %w among %s", errCycle, strings.Join(stuck, ", "))
	}
	return out, nil
}
