package inference_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/inference"
)

func TestDetect(t *testing.T) {
	t.Parallel()
	ollama := httptest.NewServer(fakeengine.New(fakeengine.Options{Models: []string{"llama3.2:latest", "qwen3:0.6b"}}))
	defer ollama.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
		}
	}))
	defer empty.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer hang.Close()
	notAnEngine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>hello</html>")
	}))
	defer notAnEngine.Close()
	jan := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(inference.ServerHeader, "1")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"m"}]}`)
	}))
	defer jan.Close()

	candidates := []inference.Candidate{
		{"hang", hang.URL},
		{"refused", "http://" + closedPort(t)},
		{"ollama", ollama.URL},
		{"web", notAnEngine.URL},
		{"self", jan.URL},
		{"empty", empty.URL + "/v1"},
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	got := inference.Detect(context.Background(), candidates, timeout)
	if d := time.Since(start); d < timeout || d > timeout+700*time.Millisecond {
		t.Errorf("Detect took %v with a %v timeout", d, timeout)
	}
	want := []inference.Provider{
		{Name: "ollama", Kind: "openai", BaseURL: ollama.URL, Detected: true, Models: []inference.ModelSpec{
			{ID: "llama3.2:latest", ServedName: "llama3.2:latest", Capabilities: []string{"chat", "completions"}},
			{ID: "qwen3:0.6b", ServedName: "qwen3:0.6b", Capabilities: []string{"chat", "completions"}},
		}},
		{Name: "empty", Kind: "openai", BaseURL: empty.URL + "/v1", Detected: true, Models: []inference.ModelSpec{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Detect =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDetectNothingRunsIsFast(t *testing.T) {
	t.Parallel()
	candidates := []inference.Candidate{{"a", "http://" + closedPort(t)}, {"b", "http://" + closedPort(t)}}
	start := time.Now()
	if got := inference.Detect(context.Background(), candidates, 5*time.Second); len(got) != 0 {
		t.Errorf("Detect = %+v", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused connections took %v", d)
	}
}

func TestProbeEngine(t *testing.T) {
	t.Parallel()
	e := httptest.NewServer(fakeengine.New(fakeengine.Options{Models: []string{"m1"}, APIKey: "key"}))
	defer e.Close()
	host := strings.TrimPrefix(e.URL, "http://")

	p, err := inference.ProbeEngine(context.Background(), "", e.URL, map[string]string{"Authorization": "Bearer key"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != host || p.BaseURL != e.URL || p.Detected || len(p.Models) != 1 || p.Models[0].ID != "m1" || p.Headers["Authorization"] != "Bearer key" {
		t.Errorf("ProbeEngine = %+v", p)
	}
	if p, _ := inference.ProbeEngine(context.Background(), "mine", e.URL+"/v1/", map[string]string{"Authorization": "Bearer key"}); p.Name != "mine" {
		t.Errorf("name = %q", p.Name)
	}

	refused := closedPort(t)
	list := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	tests := []struct {
		name, url, want string
	}{
		{"refused", "http://" + refused, "cannot reach the engine at " + refused + ": connection refused (is it running?)"},
		{"needs key", e.URL, "engine at " + host + " answered GET /v1/models with HTTP 401; it needs an API key"},
		{"not found", notFound.URL + "/api", "answered GET /api/v1/models with HTTP 404"},
		{"not a list", list(`{"models":[]}`), "did not answer GET /v1/models with an OpenAI model list"},
		{"bad scheme", "ftp://x", `engine "ftp://x" must start with http:// or https://`},
		{"no scheme", "localhost:8000", "engine "},
	}
	for _, tt := range tests {
		_, err := inference.ProbeEngine(context.Background(), "", tt.url, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}

	start := time.Now()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := inference.ProbeEngine(ctx, "", hang.URL, nil); err == nil || !strings.Contains(err.Error(), "did not answer GET /v1/models in time") {
		t.Errorf("hang: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("probe of a hanging engine took %v", d)
	}
}
