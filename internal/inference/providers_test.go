package inference_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/janhq/jan/internal/inference"
)

const seedYAML = `
providers:
  - name: vllm-local
    kind: openai
    base_url: ${VLLM_URL:-http://localhost:8001}
    headers:
      Authorization: "Bearer ${VLLM_INTERNAL_KEY}"
    models:
      - id: Qwen/Qwen2.5-0.5B-Instruct
        served_name: Qwen/Qwen2.5-0.5B-Instruct
        capabilities: [chat, completions, embeddings]
      - id: jan-v1-4b
        served_name: janhq/Jan-v1-4B
        display_name: Jan v1 4B
  - name: remote
    base_url: https://api.example.com/v1
routing:
  default_provider: vllm-local
`

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseProvidersSeed(t *testing.T) {
	t.Parallel()
	cfg, err := inference.ParseProviders("providers.yaml", []byte(seedYAML), env(map[string]string{"VLLM_INTERNAL_KEY": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	want := &inference.Config{
		DefaultProvider: "vllm-local",
		Providers: []inference.Provider{
			{
				Name:    "vllm-local",
				Kind:    "openai",
				BaseURL: "http://localhost:8001",
				Headers: map[string]string{"Authorization": "Bearer s3cret"},
				Models: []inference.ModelSpec{
					{ID: "Qwen/Qwen2.5-0.5B-Instruct", ServedName: "Qwen/Qwen2.5-0.5B-Instruct", Capabilities: []string{"chat", "completions", "embeddings"}},
					{ID: "jan-v1-4b", ServedName: "janhq/Jan-v1-4B", DisplayName: "Jan v1 4B", Capabilities: []string{"chat", "completions"}},
				},
			},
			{Name: "remote", Kind: "openai", BaseURL: "https://api.example.com/v1"},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestParseProvidersEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		vars        map[string]string
		want        string
		wantErr     string
	}{
		{"plain", "http://h:1", nil, "http://h:1", ""},
		{"set", "${URL}", map[string]string{"URL": "http://a:1"}, "http://a:1", ""},
		{"default when unset", "${URL:-http://b:2}", nil, "http://b:2", ""},
		{"default when empty", "${URL:-http://b:2}", map[string]string{"URL": ""}, "http://b:2", ""},
		{"default not used", "${URL:-http://b:2}", map[string]string{"URL": "http://a:1"}, "http://a:1", ""},
		{"nested default", "${URL:-http://${HOST:-c}:3}", nil, "http://c:3", ""},
		{"in the middle", "http://${HOST}:${PORT:-80}/v1", map[string]string{"HOST": "x"}, "http://x:80/v1", ""},
		{"dollar escape and lone dollar", "http://h/$$a$b", nil, "http://h/$a$b", ""},
		{"required", "${URL:?set URL to the engine}", nil, "", "providers[0].base_url: environment variable URL is not set: set URL to the engine"},
		{"unterminated", "${URL", nil, "", "providers[0].base_url: unterminated ${"},
		{"bad name", "${1X}", nil, "", "providers[0].base_url: invalid variable reference ${1X}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := "providers:\n  - name: p\n    base_url: \"" + tt.value + "\"\n"
			cfg, err := inference.ParseProviders("providers.yaml", []byte(doc), env(tt.vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "providers.yaml: "+tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Providers[0].BaseURL; got != tt.want {
				t.Errorf("base_url = %q, want %q", got, tt.want)
			}
		})
	}
}

// An expanded value is never re-parsed as YAML, so secrets need no quoting.
func TestParseProvidersEnvValueIsLiteral(t *testing.T) {
	t.Parallel()
	doc := "providers:\n  - name: p\n    base_url: http://h\n    headers:\n      X-Key: ${KEY}\n"
	key := `a: b # "c" ${D}`
	cfg, err := inference.ParseProviders("p.yaml", []byte(doc), env(map[string]string{"KEY": key}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers[0].Headers["X-Key"]; got != key {
		t.Errorf("header = %q, want %q", got, key)
	}
}

func TestParseProvidersErrors(t *testing.T) {
	t.Parallel()
	provider := func(extra string) string {
		return "providers:\n  - name: a\n    base_url: http://a\n" + extra
	}
	tests := []struct {
		name, doc, want string
	}{
		{"yaml syntax", "providers:\n  - name: a\n    base_url: [\n", "providers.yaml: line 3: did not find expected node content"},
		{"yaml tab", "providers:\n\t- name: a\n", "providers.yaml: line 2: "},
		{"unknown top-level", "provider: []\n", "providers.yaml: provider: unknown field"},
		{"unknown provider field", provider("    modles: []\n"), "providers.yaml: providers[0].modles: unknown field"},
		{"unknown model field", provider("    models:\n      - id: m\n        capability: [chat]\n"), "providers.yaml: providers[0].models[0].capability: unknown field"},
		{"unknown routing field", "routing:\n  default: x\n", "providers.yaml: routing.default: unknown field"},
		{"name required", "providers:\n  - base_url: http://a\n", "providers.yaml: providers[0].name: required"},
		{"name unique", provider("  - name: a\n    base_url: http://b\n"), `providers.yaml: providers[1].name: "a" is already the name of providers[0]`},
		{"name with slash", "providers:\n  - name: a/b\n    base_url: http://a\n", "providers.yaml: providers[0].name: "},
		{"base_url required", provider("  - name: b\n"), "providers.yaml: providers[1].base_url: required"},
		{"base_url scheme", "providers:\n  - name: a\n    base_url: ftp://a\n", "providers.yaml: providers[0].base_url: \"ftp://a\" must start with http:// or https://"},
		{"base_url relative", "providers:\n  - name: a\n    base_url: localhost:8000\n", "providers.yaml: providers[0].base_url: "},
		{"base_url query", "providers:\n  - name: a\n    base_url: http://a/?k=1\n", "providers.yaml: providers[0].base_url: \"http://a/?k=1\" must not have a query or fragment"},
		{"kind", provider("    kind: anthropic\n"), `providers.yaml: providers[0].kind: "anthropic" is not supported`},
		{"model id required", provider("    models:\n      - served_name: x\n"), "providers.yaml: providers[0].models[0].id: required"},
		{"model id unique", provider("    models:\n      - id: m\n      - id: m\n"), `providers.yaml: providers[0].models[1].id: "m" is already the id of providers[0].models[0]`},
		{"capability", provider("    models:\n      - id: m\n        capabilities: [chat, audio]\n"), `providers.yaml: providers[0].models[0].capabilities[1]: "audio" is not one of chat, completions, embeddings, vision, reasoning`},
		{"context length", provider("    models:\n      - id: m\n        context_length: lots\n"), "providers.yaml: providers[0].models[0].context_length: must be a positive number of tokens"},
		{"context length zero", provider("    models:\n      - id: m\n        context_length: 0\n"), "providers.yaml: providers[0].models[0].context_length: must be a positive number"},
		{"empty capabilities", provider("    models:\n      - id: m\n        capabilities: []\n"), "providers.yaml: providers[0].models[0].capabilities: must list at least one"},
		{"capabilities not a list", provider("    models:\n      - id: m\n        capabilities: chat\n"), "providers.yaml: providers[0].models[0].capabilities: must be a list"},
		{"models not a list", provider("    models: m\n"), "providers.yaml: providers[0].models: must be a list"},
		{"providers not a list", "providers: {}\n", "providers.yaml: providers: must be a list"},
		{"provider not a mapping", "providers:\n  - a\n", "providers.yaml: providers[0]: must be a mapping"},
		{"name not a scalar", "providers:\n  - name: [a]\n    base_url: http://a\n", "providers.yaml: providers[0].name: must be a single value"},
		{"header name", provider("    headers:\n      \"Bad Header\": x\n"), "providers.yaml: providers[0].headers.Bad Header: not a valid HTTP header name"},
		{"header value", provider("    headers:\n      X-A: \"a\\nb\"\n"), "providers.yaml: providers[0].headers.X-A: value must not contain line breaks"},
		{"duplicate key", provider("    name: b\n"), "providers.yaml: providers[0].name: listed twice"},
		{"default provider", provider("routing:\n  default_provider: x\n"), `providers.yaml: routing.default_provider: "x" is not a provider`},
		{"top level list", "- a\n", "providers.yaml: top level: must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := inference.ParseProviders("providers.yaml", []byte(tt.doc), env(nil))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error:\n  %v\nwant prefix:\n  %s", err, tt.want)
			}
		})
	}
}

func TestParseProvidersReportsEveryError(t *testing.T) {
	t.Parallel()
	doc := "providers:\n  - name: a\n  - base_url: http://b\n"
	_, err := inference.ParseProviders("p.yaml", []byte(doc), nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"p.yaml: providers[0].base_url: required", "p.yaml: providers[1].name: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestParseProvidersEmpty(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "# nothing\n", "providers: []\n", "providers:\nrouting:\n", inference.DefaultProvidersYAML} {
		cfg, err := inference.ParseProviders("providers.yaml", []byte(doc), nil)
		if err != nil {
			t.Errorf("%q: %v", doc, err)
			continue
		}
		if len(cfg.Providers) != 0 || cfg.DefaultProvider != "" {
			t.Errorf("%q: got %+v", doc, cfg)
		}
	}
}

// The example in the default file's comments must stay valid.
func TestDefaultProvidersYAMLExample(t *testing.T) {
	t.Parallel()
	var example []string
	for line := range strings.Lines(inference.DefaultProvidersYAML) {
		if rest, ok := strings.CutPrefix(line, "# "); ok && (strings.HasPrefix(rest, "providers:") || strings.HasPrefix(rest, "routing:") || strings.HasPrefix(rest, "  ")) {
			example = append(example, rest)
		}
	}
	cfg, err := inference.ParseProviders("example", []byte(strings.Join(example, "")), env(map[string]string{"VLLM_INTERNAL_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 1 || len(cfg.Providers[0].Models) != 1 || cfg.DefaultProvider != "vllm-local" {
		t.Errorf("example parsed as %+v", cfg)
	}
}

func TestLoadProviders(t *testing.T) {
	t.Setenv("JAN_TEST_ENGINE", "http://10.0.0.1:9000")
	path := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(path, []byte("providers:\n  - name: e\n    base_url: ${JAN_TEST_ENGINE}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := inference.LoadProviders(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers[0].BaseURL != "http://10.0.0.1:9000" {
		t.Errorf("base_url = %q", cfg.Providers[0].BaseURL)
	}
	if _, err := inference.LoadProviders(path+".missing", nil); err == nil || !strings.Contains(err.Error(), "providers.yaml.missing") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestProviderURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ base, want string }{
		{"http://localhost:8000", "http://localhost:8000/v1/chat/completions"},
		{"http://localhost:8000/", "http://localhost:8000/v1/chat/completions"},
		{"http://localhost:8000/v1", "http://localhost:8000/v1/chat/completions"},
		{"http://localhost:8000/v1/", "http://localhost:8000/v1/chat/completions"},
		{"https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions"},
		{"https://generativelanguage.googleapis.com/v1beta/openai", "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"},
		{"http://proxy/llm", "http://proxy/llm/v1/chat/completions"},
	}
	for _, tt := range tests {
		p := inference.Provider{BaseURL: tt.base}
		if got := p.URL("/chat/completions"); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}
