package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/inference"
)

// hosts for DetectHardware: one H100, and none.
var (
	gpuHost = Host{GOOS: "linux", Timeout: time.Second, Exists: func(p string) bool { return p == nvidiaProc },
		Run: func(context.Context, string, ...string) ([]byte, error) {
			return []byte("NVIDIA H100 80GB HBM3, 81559, 550.54.15\n"), nil
		}}
	cpuHost = Host{GOOS: "linux", Timeout: time.Second, Exists: func(string) bool { return false },
		Run: func(context.Context, string, ...string) ([]byte, error) { return nil, exec.ErrNotFound }}
)

// fakeEngine is an OpenAI-compatible engine listing one model.
func fakeEngine(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"llama3.2:1b","object":"model"}]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestChooseInference: issue 18's plan cases, without Docker. Engines are
// found through the real probe (an engine on a port, or nothing there).
func TestChooseInference(t *testing.T) {
	ctx := context.Background()
	engineURL := fakeEngine(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // a port where nothing answers
	local := LocalEngines()
	found := func(urls ...string) Engines {
		return Engines{Probe: local.Probe, Detect: func(ctx context.Context) []Engine { return detect(ctx, candidates(urls)) }}
	}
	for _, c := range []struct {
		name    string
		mode    InferenceMode
		host    Host
		urls    []string // --engine
		local   []string // engines on the usual ports
		profile Profile
		engine  string // the engine's URL when external
		reason  string // in the reason
		err     string // in the error
	}{
		{name: "GPU, no engine", mode: InferenceAuto, host: gpuHost, local: []string{deadURL}, profile: ProfileGPU, reason: "H100"},
		{name: "GPU and an engine: the GPU wins", mode: InferenceAuto, host: gpuHost, local: []string{engineURL}, profile: ProfileGPU},
		{name: "no GPU, an engine on a port", mode: InferenceAuto, host: cpuHost, local: []string{deadURL, engineURL}, profile: ProfileExternal, engine: engineURL, reason: "no NVIDIA GPU; test answers on " + engineURL + " (1 model) → that engine, no vLLM container"},
		{name: "no GPU, nothing", mode: InferenceAuto, host: cpuHost, local: []string{deadURL}, profile: ProfileCPU, reason: "no engine answers"},
		{name: "no GPU, --engine", mode: InferenceAuto, host: cpuHost, urls: []string{engineURL}, profile: ProfileExternal, engine: engineURL, reason: "--engine " + engineURL + " answers"},
		{name: "--engine that does not answer", mode: InferenceAuto, host: cpuHost, urls: []string{deadURL}, err: "--engine " + deadURL},
		{name: "external, an engine on a port", mode: InferenceExternal, host: gpuHost, local: []string{engineURL}, profile: ProfileExternal, engine: engineURL, reason: "--inference=external"},
		{name: "external, nothing", mode: InferenceExternal, host: cpuHost, local: []string{deadURL}, err: "--inference=external: no engine answers"},
		{name: "vllm, though an engine runs", mode: InferenceVLLM, host: cpuHost, local: []string{engineURL}, profile: ProfileCPU, reason: "--inference=vllm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hw := DetectHardware(ctx, GPUAuto, c.host)
			got, err := ChooseInference(ctx, c.mode, hw, c.urls, found(c.local...))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Profile != c.profile || !strings.Contains(got.Reason, c.reason) {
				t.Errorf("got %s %q, want %s with %q", got.Profile, got.Reason, c.profile, c.reason)
			}
			if (got.Engine != nil) != (c.engine != "") || got.Engine != nil && (got.Engine.URL != c.engine || len(got.Engine.Models) != 1) {
				t.Errorf("engine %+v, want %q", got.Engine, c.engine)
			}
		})
	}
}

func candidates(urls []string) []inference.Candidate {
	var out []inference.Candidate
	for _, u := range urls {
		out = append(out, inference.Candidate{Name: "test", BaseURL: u})
	}
	return out
}

// TestExternalPlan: with an engine, the plan has no vLLM service (five
// containers), the server is given the engine's URL and no vLLM provider
// file or key, and jan up's summary points at the engine.
func TestExternalPlan(t *testing.T) {
	dir := t.TempDir()
	engine := &Engine{Name: "ollama", URL: "http://127.0.0.1:11434", Models: []string{"llama3.2:1b"}}
	p, err := NewPlan(context.Background(), Settings{DataDir: dir, Env: map[string]string{}, Profile: ProfileExternal, ServerAddr: "127.0.0.1:8080", DryRun: true, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.Containers {
		names = append(names, c.Service)
	}
	if len(names) != 5 || strings.Contains(strings.Join(names, " "), "vllm") {
		t.Errorf("services %v, want the five without vLLM", names)
	}
	env := p.ServerEnv("")
	if env["JAN_ENGINE_URL"] != engine.URL || env["JAN_PROVIDERS"] != "" || env[SecretVLLMInternalKey] != "" {
		t.Errorf("server env %v", env)
	}
	if path, err := p.WriteProviders(dir); path != "" || err != nil {
		t.Errorf("WriteProviders = %q, %v; want nothing written", path, err)
	}
	if u := p.URLs()[4]; u[1] != engine.URL {
		t.Errorf("the summary's engine line is %v", u)
	}
	v := p.View("no NVIDIA GPU; ollama answers on http://127.0.0.1:11434 (1 model) → that engine, no vLLM container", dir, ImagesView{Note: "not checked: no Docker engine"})
	got, err := v.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for name, val := range p.Secrets.Env() {
		if strings.Contains(string(got), val) {
			t.Errorf("the plan shows %s", name)
		}
	}
	golden(t, "plan_external.json", got)
	if _, err := NewPlan(context.Background(), Settings{DataDir: dir, Profile: ProfileExternal, DryRun: true}); err == nil {
		t.Error("an external plan without an engine was made")
	}
}

// TestIssuerPlan: with --issuer the plan runs no Keycloak and no
// keycloak-db, hands the server the issuer instead of Keycloak's settings,
// and says so.
func TestIssuerPlan(t *testing.T) {
	const issuer = "https://login.example.com/realms/acme"
	p, err := NewPlan(context.Background(), Settings{DataDir: t.TempDir(), Env: map[string]string{}, Profile: ProfileCPU, ServerAddr: "127.0.0.1:8080", DryRun: true, Fit: Fit{Issuer: issuer}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Containers {
		if c.Service == ServiceKeycloak || c.Service == ServiceKeycloakDB {
			t.Errorf("%s is in the plan", c.Service)
		}
	}
	if len(p.Containers) != 4 {
		t.Errorf("%d services, want 4", len(p.Containers))
	}
	env := p.ServerEnv("")
	if env["JAN_OIDC_ISSUER"] != issuer || env["KEYCLOAK_BASE_URL"] != "" || env["BACKEND_CLIENT_SECRET"] != "" {
		t.Errorf("server env %v", env)
	}
	v := p.View("", "", ImagesView{})
	if v.Identity.Choice != "external issuer" || !strings.Contains(v.Identity.Reason, issuer) || !strings.Contains(v.Identity.Reason, "no jan login --web") {
		t.Errorf("identity %+v", v.Identity)
	}
	if env["JAN_OIDC_CLIENT_ID"] != "" {
		t.Errorf("a client id without --client-id: %v", env)
	}

	// With jan's client there: the server gets its id, and the plan says
	// which redirect URI the provider must allow.
	p, err = NewPlan(context.Background(), Settings{DataDir: t.TempDir(), Env: map[string]string{}, Profile: ProfileCPU, ServerAddr: "127.0.0.1:8080", DryRun: true,
		Fit: Fit{Issuer: issuer, ClientID: "jan-cli"}})
	if err != nil {
		t.Fatal(err)
	}
	if env := p.ServerEnv(""); env["JAN_OIDC_CLIENT_ID"] != "jan-cli" {
		t.Errorf("server env %v", env)
	}
	if r := p.View("", "", ImagesView{}).Identity.Reason; !strings.Contains(r, "as client jan-cli (register http://localhost:8080/auth/callback as its redirect URI") {
		t.Errorf("identity with a client: %s", r)
	}
}
