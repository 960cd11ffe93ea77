package inference_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/janhq/jan/internal/inference"
)

func models(ids ...string) []inference.ModelSpec {
	out := make([]inference.ModelSpec, len(ids))
	for i, id := range ids {
		out[i] = inference.ModelSpec{ID: id}
	}
	return out
}

func TestRegistryLookup(t *testing.T) {
	t.Parallel()
	r := inference.NewRegistry(&inference.Config{Providers: []inference.Provider{
		{Name: "vllm", BaseURL: "http://a", Models: []inference.ModelSpec{
			{ID: "jan-v1", ServedName: "janhq/Jan-v1-4B", Capabilities: []string{"chat"}},
			{ID: "llama"},
		}},
		{Name: "ollama", BaseURL: "http://b", Models: models("llama", "qwen")},
	}})

	tests := []struct {
		id, provider, served string
		ok                   bool
	}{
		{"jan-v1", "vllm", "janhq/Jan-v1-4B", true},
		{"llama", "vllm", "llama", true},          // first wins
		{"ollama/llama", "ollama", "llama", true}, // later duplicate
		{"qwen", "ollama", "qwen", true},
		{"ollama/qwen", "ollama", "qwen", true}, // provider-qualified alias
		{"vllm/jan-v1", "vllm", "janhq/Jan-v1-4B", true},
		{"janhq/Jan-v1-4B", "", "", false}, // served names are not public
		{"missing", "", "", false},
		{"vllm/missing", "", "", false},
	}
	for _, tt := range tests {
		rt, ok := r.Lookup(tt.id)
		if ok != tt.ok {
			t.Errorf("Lookup(%q) ok = %v", tt.id, ok)
			continue
		}
		if !ok {
			continue
		}
		if rt.Provider.Name != tt.provider || rt.ServedName != tt.served || rt.PublicID != tt.id {
			t.Errorf("Lookup(%q) = %+v (provider %s)", tt.id, rt, rt.Provider.Name)
		}
	}
	rt, _ := r.Lookup("jan-v1")
	if !rt.Supports(inference.CapChat) || rt.Supports(inference.CapCompletions) {
		t.Errorf("capabilities = %v", rt.Capabilities)
	}
	rt, _ = r.Lookup("qwen")
	if !reflect.DeepEqual(rt.Capabilities, []string{"chat", "completions"}) {
		t.Errorf("default capabilities = %v", rt.Capabilities)
	}
}

func TestRegistryModels(t *testing.T) {
	t.Parallel()
	r := inference.NewRegistry(&inference.Config{Providers: []inference.Provider{
		{Name: "a", BaseURL: "http://a", Models: []inference.ModelSpec{{ID: "m", ServedName: "served-m", DisplayName: "Model M"}}},
		{Name: "b", BaseURL: "http://b", Models: models("m", "n")},
	}})
	want := []inference.Model{
		{ID: "m", Provider: "a", ServedName: "served-m", DisplayName: "Model M", Capabilities: []string{"chat", "completions"}},
		{ID: "b/m", Provider: "b", ServedName: "m", DisplayName: "b/m", Capabilities: []string{"chat", "completions"}},
		{ID: "n", Provider: "b", ServedName: "n", DisplayName: "n", Capabilities: []string{"chat", "completions"}},
	}
	if got := r.Models(); !reflect.DeepEqual(got, want) {
		t.Errorf("Models() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRegistryDefaultModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  *inference.Config
		want string
	}{
		{"nil config", nil, ""},
		{"no models", &inference.Config{Providers: []inference.Provider{{Name: "a", BaseURL: "http://a"}}}, ""},
		{"first provider with models", &inference.Config{Providers: []inference.Provider{
			{Name: "a", BaseURL: "http://a"}, {Name: "b", BaseURL: "http://b", Models: models("x", "y")},
		}}, "x"},
		{"default provider", &inference.Config{DefaultProvider: "b", Providers: []inference.Provider{
			{Name: "a", BaseURL: "http://a", Models: models("x")}, {Name: "b", BaseURL: "http://b", Models: models("y")},
		}}, "y"},
		{"default provider's model renamed", &inference.Config{DefaultProvider: "b", Providers: []inference.Provider{
			{Name: "a", BaseURL: "http://a", Models: models("x")}, {Name: "b", BaseURL: "http://b", Models: models("x")},
		}}, "b/x"},
		{"default provider without models", &inference.Config{DefaultProvider: "a", Providers: []inference.Provider{
			{Name: "a", BaseURL: "http://a"}, {Name: "b", BaseURL: "http://b", Models: models("y")},
		}}, "y"},
	}
	for _, tt := range tests {
		if got := inference.NewRegistry(tt.cfg).DefaultModel(); got != tt.want {
			t.Errorf("%s: DefaultModel() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRegistryAdd(t *testing.T) {
	t.Parallel()
	r := inference.NewRegistry(&inference.Config{Providers: []inference.Provider{
		{Name: "ollama", BaseURL: "http://a", Models: models("llama")},
	}})
	if r.DefaultModel() != "llama" {
		t.Fatal("default model")
	}
	detected := inference.Provider{Name: "ollama", BaseURL: "http://127.0.0.1:11434", Detected: true, Models: models("llama", "phi")}
	r.Add(detected)
	r.Add(inference.Provider{BaseURL: "http://10.0.0.5:8000", Models: models("phi", "big")})

	var names []string
	for _, p := range r.Providers() {
		names = append(names, p.Name)
	}
	if want := []string{"ollama", "ollama-2", "10.0.0.5:8000"}; !reflect.DeepEqual(names, want) {
		t.Errorf("provider names = %v, want %v", names, want)
	}
	for id, provider := range map[string]string{"llama": "ollama", "ollama-2/llama": "ollama-2", "phi": "ollama-2", "10.0.0.5:8000/phi": "10.0.0.5:8000", "big": "10.0.0.5:8000"} {
		rt, ok := r.Lookup(id)
		if !ok || rt.Provider.Name != provider {
			t.Errorf("Lookup(%q) = %v, %v; want provider %s", id, rt.Provider, ok, provider)
		}
	}
	if rt, _ := r.Lookup("phi"); !rt.Provider.Detected || rt.Provider.Kind != "openai" {
		t.Errorf("detected provider = %+v", rt.Provider)
	}
	// Add copies: changing the caller's value changes nothing.
	detected.Models[0].ID = "changed"
	if _, ok := r.Lookup("ollama-2/llama"); !ok {
		t.Error("registry shares the caller's model slice")
	}
	if r.DefaultModel() != "llama" {
		t.Errorf("DefaultModel() = %q after Add", r.DefaultModel())
	}

	// The same engine found again by detection is not listed twice.
	n := len(r.Models())
	r.Add(inference.Provider{Name: "ollama", BaseURL: "http://localhost:11434/v1/", Detected: true, Models: models("llama", "phi")})
	r.Add(inference.Provider{Name: "x", BaseURL: "http://10.0.0.5:8000/v1", Detected: true, Models: models("z")})
	if len(r.Providers()) != 3 || len(r.Models()) != n {
		t.Errorf("re-detected engines were added: %d providers, %d models", len(r.Providers()), len(r.Models()))
	}
}

func TestRegistryConcurrent(t *testing.T) {
	t.Parallel()
	r := inference.NewRegistry(nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r.Add(inference.Provider{Name: "p", BaseURL: "http://p", Models: models(fmt.Sprint("m", i))})
		})
		wg.Go(func() {
			for range 100 {
				r.Lookup("m0")
				r.Models()
				r.DefaultModel()
				r.Providers()
			}
		})
	}
	wg.Wait()
	if n := len(r.Models()); n != 8 {
		t.Errorf("%d models, want 8", n)
	}
}
