package stack

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/janhq/jan/internal/config"
)

// Settings are what a plan is made from. Env holds every variable
// compose.yaml may interpolate, as the caller merged them (the user's
// environment, .env, and --image / --publish overrides); secrets missing
// from it come from (or are generated into) DataDir.
type Settings struct {
	DataDir    string
	Env        map[string]string
	Profile    Profile
	ServerAddr string // where the in-process llm-api listens (host:port)
	// DryRun: the plan is shown, not run — nothing is written (secrets the
	// data dir lacks are generated in memory only).
	DryRun bool
	// Engine is the engine the server uses with ProfileExternal.
	Engine *Engine
	Fit
}

// Fit is what the user brings instead of what jan up would start, or
// leaves out.
type Fit struct {
	// Without lists optional services not to run (--without; Optional).
	Without []string
	// Issuer is an OIDC issuer the server trusts instead of the stack's
	// Keycloak (--issuer): no Keycloak or keycloak-db container. NoGuests
	// (--guests=off) refuses guests beside it.
	Issuer   string
	NoGuests bool
	// ClientID is jan's OAuth client at Issuer (--client-id): jan login
	// --web signs in there, back to LoginRedirect.
	ClientID string
}

// Optional are the services jan up can run without, and what changes then.
var Optional = map[string]string{
	ServiceKong:          "no gateway: clients talk to the llm-api server directly (its --addr, :8080 by default), which trusts no forwarded headers",
	ServiceOtelCollector: "no collector: the server exports no traces or OTLP metrics (its /metrics stays)",
}

// CheckWithout refuses a --without naming a service jan up cannot do
// without.
func CheckWithout(names []string) error {
	for _, n := range names {
		if _, ok := Optional[n]; !ok {
			var opt []string
			for o := range Optional {
				opt = append(opt, o)
			}
			sort.Strings(opt)
			return fmt.Errorf("--without %s: jan up can leave out only %s", n, strings.Join(opt, " and "))
		}
	}
	return nil
}

// Plan is the stack for one jan up: the containers in start order, the
// secrets, and the values the in-process server is wired with.
type Plan struct {
	Profile    Profile
	Containers []Container
	Secrets    *Secrets
	Env        map[string]string // the interpolation environment, secrets included
	ServerAddr string
	Model      string  // vLLM's served model name
	Engine     *Engine // ProfileExternal: the engine instead of vLLM
	Fit
}

// NewPlan loads the secrets and compose.yaml for s.Profile, renders the
// config files and converts every service.
func NewPlan(ctx context.Context, s Settings) (*Plan, error) {
	env := map[string]string{}
	for k, v := range s.Env {
		env[k] = v
	}
	load := LoadSecrets
	if s.DryRun {
		load = PeekSecrets
	}
	secrets, err := load(s.DataDir, func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	for k, v := range secrets.Env() {
		env[k] = v
	}
	if s.ServerAddr == "" {
		s.ServerAddr = "127.0.0.1:8080"
	}
	if env["JAN_PUBLIC_URL"] == "" {
		// Keycloak sends browsers back to the server's /auth/callback.
		if _, port, err := net.SplitHostPort(s.ServerAddr); err == nil {
			env["JAN_PUBLIC_URL"] = "http://localhost:" + port
		}
	}
	files, err := Files(KongConfig{Upstream: UpstreamURL(s.ServerAddr), GatewaySecret: secrets.Get(SecretGatewaySecret)})
	if err != nil {
		return nil, err
	}
	proj, err := Load(ctx, s.Profile, env)
	if err != nil {
		return nil, err
	}
	if err := CheckWithout(s.Without); err != nil {
		return nil, err
	}
	containers, err := Convert(proj, files)
	if err != nil {
		return nil, err
	}
	containers = slices.DeleteFunc(containers, func(c Container) bool {
		return slices.Contains(s.Without, c.Service) || s.Issuer != "" && (c.Service == ServiceKeycloak || c.Service == ServiceKeycloakDB)
	})
	if s.Profile == ProfileExternal && s.Engine == nil {
		return nil, fmt.Errorf("stack: the external profile needs an engine")
	}
	p := &Plan{Profile: s.Profile, Containers: containers, Secrets: secrets, Env: env, ServerAddr: s.ServerAddr, Engine: s.Engine, Fit: s.Fit}
	if v, ok := p.Container(p.VLLMService()); ok {
		for _, a := range v.Cmd {
			if name, ok := strings.CutPrefix(a, "--served-model-name="); ok {
				p.Model = name
			}
		}
	}
	return p, nil
}

// VLLMService is the inference service of the plan's profile; "" when the
// stack runs none (ProfileExternal).
func (p *Plan) VLLMService() string {
	switch p.Profile {
	case ProfileGPU:
		return ServiceVLLMGPU
	case ProfileExternal:
		return ""
	}
	return ServiceVLLMCPU
}

// Container returns the named service's container.
func (p *Plan) Container(service string) (Container, bool) {
	for _, c := range p.Containers {
		if c.Service == service {
			return c, true
		}
	}
	return Container{}, false
}

// Port is the host port published for service's containerPort ("" if none).
func (p *Plan) Port(service string, containerPort uint32) string {
	c, _ := p.Container(service)
	for _, pt := range c.Ports {
		if pt.ContainerPort == containerPort {
			return pt.HostPort
		}
	}
	return ""
}

// URLs are the stack's addresses for people, in display order.
func (p *Plan) URLs() [][2]string {
	urls := [][2]string{
		{"Gateway (Kong)", "http://localhost:" + p.Port(ServiceKong, 8000)},
		{"llm-api", "http://" + config.Dialable(p.ServerAddr)},
		{"Keycloak", "http://localhost:" + p.Port(ServiceKeycloak, 8085)},
		{"Postgres", "127.0.0.1:" + p.Port(ServiceAPIDB, 5432)},
		p.inferenceURL(),
		{"OTLP/HTTP", "http://127.0.0.1:" + p.Port(ServiceOtelCollector, 4318)},
	}
	if slices.Contains(p.Without, ServiceKong) {
		urls[0][1] = "none (--without kong): use the llm-api address"
	}
	if slices.Contains(p.Without, ServiceOtelCollector) {
		urls[5][1] = "none (--without otel-collector)"
	}
	if p.Issuer != "" {
		urls[2] = [2]string{"Identity", p.Issuer + " (--issuer; no Keycloak)"}
	}
	return urls
}

// LoginRedirect is where an identity provider sends a browser back to
// after jan login --web: the redirect URI jan's client must have there.
func (p *Plan) LoginRedirect() string {
	return strings.TrimRight(p.Env["JAN_PUBLIC_URL"], "/") + "/auth/callback"
}

func (p *Plan) inferenceURL() [2]string {
	if p.Engine != nil {
		return [2]string{"Engine", p.Engine.URL}
	}
	return [2]string{"vLLM", "http://127.0.0.1:" + p.Port(p.VLLMService(), 8000)}
}

// ProvidersFile is the providers.yaml jan writes into the data dir for the
// stack's vLLM; its key stays a ${VLLM_INTERNAL_KEY} reference.
const ProvidersFile = "stack-providers.yaml"

// WriteProviders writes ProvidersFile for the plan's vLLM and returns its
// path; "" when the plan has no vLLM (the server is given the external
// engine's URL instead, ServerEnv).
func (p *Plan) WriteProviders(dataDir string) (string, error) {
	if p.Engine != nil {
		return "", nil
	}
	if p.Model == "" {
		return "", fmt.Errorf("stack: %s has no --served-model-name", p.VLLMService())
	}
	body := fmt.Sprintf(`# Written by jan up for the stack's vLLM; rewritten on every jan up.
providers:
  - name: vllm
    base_url: http://127.0.0.1:%s
    headers:
      Authorization: "Bearer ${%s}"
    models:
      - id: %q
        served_name: %q
        capabilities: [chat, completions]
routing:
  default_provider: vllm
`, p.Port(p.VLLMService(), 8000), SecretVLLMInternalKey, p.Model, p.Model)
	path := filepath.Join(dataDir, ProvidersFile)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("stack: write %s: %w", path, err)
	}
	return path, nil
}

// ServerEnv is the environment that wires the llm-api server to the
// stack: its Postgres, Keycloak, vLLM (through providersPath), the
// collector and the gateway secret. Keys the caller's environment already
// sets are the caller's to keep.
func (p *Plan) ServerEnv(providersPath string) map[string]string {
	user := p.Env["POSTGRES_USER"]
	if user == "" {
		user = "jan_user"
	}
	db := p.Env["POSTGRES_DB"]
	if db == "" {
		db = "jan_llm_api"
	}
	dsn := url.URL{Scheme: "postgres", User: url.UserPassword(user, p.Secrets.Get(SecretPostgresPassword)),
		Host: "127.0.0.1:" + p.Port(ServiceAPIDB, 5432), Path: "/" + db, RawQuery: "sslmode=disable"}
	env := map[string]string{
		"JAN_DB":                      dsn.String(),
		"KEYCLOAK_BASE_URL":           "http://localhost:" + p.Port(ServiceKeycloak, 8085),
		"BACKEND_CLIENT_SECRET":       p.Secrets.Get(SecretBackendClientSecret),
		"JAN_GATEWAY_SECRET":          p.Secrets.Get(SecretGatewaySecret),
		"JAN_PROVIDERS":               providersPath,
		"JAN_PUBLIC_URL":              p.Env["JAN_PUBLIC_URL"], // as Keycloak has it for the browser sign-in's redirect
		"JAN_NO_DETECT":               "true",
		SecretVLLMInternalKey:         p.Secrets.Get(SecretVLLMInternalKey),
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:" + p.Port(ServiceOtelCollector, 4318),
		"OTEL_SERVICE_NAME":           "jan-llm-api",
	}
	if p.Engine != nil {
		delete(env, "JAN_PROVIDERS")
		delete(env, SecretVLLMInternalKey)
		env["JAN_ENGINE_URL"] = p.Engine.URL
	}
	if slices.Contains(p.Without, ServiceKong) {
		delete(env, "JAN_GATEWAY_SECRET")
	}
	if p.Issuer != "" {
		delete(env, "KEYCLOAK_BASE_URL")
		delete(env, "BACKEND_CLIENT_SECRET")
		env["JAN_OIDC_ISSUER"] = p.Issuer
		if p.ClientID != "" {
			env["JAN_OIDC_CLIENT_ID"] = p.ClientID
		}
		env["JAN_GUESTS"] = "on"
		if p.NoGuests {
			env["JAN_GUESTS"] = "off"
		}
	}
	if slices.Contains(p.Without, ServiceOtelCollector) {
		delete(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	return env
}
