package inference_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/inference"
)

const chatRequest = `{"model":"public-id","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"x_unknown":{"kept":true}}`

// engine serves a fake engine that knows the model as "served-name" and
// requires an API key, and returns a route to it.
func engine(t *testing.T, o fakeengine.Options) (*fakeengine.Engine, inference.Route) {
	t.Helper()
	o.Models = []string{"served-name"}
	if o.APIKey == "" {
		o.APIKey = "sk-upstream-secret"
	}
	e := fakeengine.New(o)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, route(srv.URL, o.APIKey)
}

func route(baseURL, key string) inference.Route {
	return inference.Route{
		PublicID:   "public-id",
		ServedName: "served-name",
		Provider: &inference.Provider{
			Name:    "test-engine",
			BaseURL: baseURL,
			Headers: map[string]string{"Authorization": "Bearer " + key},
		},
	}
}

func withContent(content string, stream bool) []byte {
	s := strings.Replace(chatRequest, `"hi"`, `"`+content+`"`, 1)
	if stream {
		s = strings.Replace(s, `{`, `{"stream":true,`, 1)
	}
	return []byte(s)
}

func TestPostNonStreamed(t *testing.T) {
	t.Parallel()
	_, rt := engine(t, fakeengine.Options{})
	c := inference.NewClient(inference.ClientOptions{})
	resp, err := c.Post(context.Background(), rt, "/chat/completions", []byte(chatRequest))
	if err != nil {
		t.Fatal(err) // the engine only accepts the served name, with the key
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	content, finish, usage, err := inference.ParseCompletion(body)
	if err != nil || content != strings.Join(fakeengine.Answer(8), "") || finish != "stop" || usage.CompletionTokens != 8 {
		t.Errorf("got %q %q %+v %v", content, finish, usage, err)
	}
	out := inference.RewriteModel(body, rt.ServedName, rt.PublicID)
	if !strings.Contains(string(out), `"model":"public-id"`) {
		t.Errorf("rewritten body %s", out)
	}
}

// The request body reaches the engine untouched but for the model.
func TestPostBodyPassThrough(t *testing.T) {
	t.Parallel()
	var got []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		hdr = r.Header
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	rt := route(srv.URL+"/v1", "k")
	resp, err := inference.NewClient(inference.ClientOptions{}).Post(context.Background(), rt, "/completions", []byte(chatRequest))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := strings.Replace(chatRequest, "public-id", "served-name", 1)
	if string(got) != want {
		t.Errorf("upstream got %s\nwant %s", got, want)
	}
	if hdr.Get("Authorization") != "Bearer k" || hdr.Get("Content-Type") != "application/json" || !strings.Contains(hdr.Get("Accept"), "text/event-stream") {
		t.Errorf("headers %v", hdr)
	}
}

func TestPostStreamedAndCancelled(t *testing.T) {
	t.Parallel()
	e, rt := engine(t, fakeengine.Options{Tokens: 1000, TokenDelay: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := inference.NewClient(inference.ClientOptions{}).Post(ctx, rt, "/chat/completions", withContent("go", true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	er := inference.NewEventReader(resp.Body)
	var acc inference.Accumulator
	for range 4 {
		data, err := er.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := acc.AddChunk(data); err != nil {
			t.Fatal(err)
		}
	}
	if acc.Content != "Hello from the" {
		t.Errorf("content so far %q", acc.Content)
	}
	cancelled := time.Now()
	cancel()
	// Events already buffered may still come out; then the read fails.
	err = nil
	for n := 0; err == nil && n < 50; n++ {
		_, err = er.Next()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v, want context.Canceled within the buffered events", err)
	}
	select {
	case at := <-e.Cancellations():
		if d := at.Sub(cancelled); d > 500*time.Millisecond {
			t.Errorf("engine noticed the cancellation after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the engine never saw the cancellation")
	}
}

func TestPostErrors(t *testing.T) {
	t.Parallel()
	refused := closedPort(t)
	ctx := context.Background()

	type check struct {
		status int
		code   string
		msg    string // substring of Message
	}
	tests := []struct {
		name    string
		route   func(t *testing.T) inference.Route
		body    []byte
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		want    check
	}{
		{name: "connection refused",
			route: func(*testing.T) inference.Route { return route("http://"+refused, "k") },
			want:  check{502, "upstream_unreachable", `cannot reach provider "test-engine" at ` + refused + `: connection refused`}},
		{name: "unknown host",
			route: func(*testing.T) inference.Route { return route("http://no-such-host.invalid", "k") },
			want:  check{502, "upstream_unreachable", `provider "test-engine"`}},
		{name: "reset before response",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  withContent("[fake:disconnect=0]", false),
			want:  check{502, "upstream_unreachable", "closed the connection before answering"}},
		{name: "header timeout",
			route:   func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:    withContent("[fake:hang]", true),
			timeout: 100 * time.Millisecond,
			want:    check{504, "upstream_timeout", `provider "test-engine" did not start answering in time`}},
		{name: "context deadline",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  withContent("[fake:hang]", false),
			ctx:   func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 100*time.Millisecond) },
			want:  check{504, "upstream_timeout", "did not answer before the request deadline"}},
		{name: "caller cancelled",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  withContent("[fake:hang]", false),
			ctx: func() (context.Context, context.CancelFunc) {
				c, cancel := context.WithCancel(ctx)
				time.AfterFunc(50*time.Millisecond, cancel)
				return c, cancel
			},
			want: check{499, "request_canceled", "cancelled"}},
		{name: "upstream 500",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  withContent("[fake:status=500]", false),
			want:  check{502, "upstream_error", `provider "test-engine" failed (HTTP 500): fake engine: scripted HTTP 500`}},
		{name: "upstream 400 with envelope",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  withContent("[fake:status=400]", false),
			want:  check{400, "upstream_rejected", `provider "test-engine" rejected the request: fake engine: scripted HTTP 400`}},
		{name: "upstream 404 unknown served name",
			route: func(t *testing.T) inference.Route {
				_, rt := engine(t, fakeengine.Options{})
				rt.ServedName = "not-served"
				return rt
			},
			want: check{404, "upstream_rejected", "The model `not-served` does not exist."}},
		{name: "upstream refuses jan's key",
			route: func(t *testing.T) inference.Route {
				_, rt := engine(t, fakeengine.Options{})
				rt.Provider.Headers = map[string]string{"Authorization": "Bearer wrong-key-123"}
				return rt
			},
			want: check{502, "upstream_rejected", `provider "test-engine" refused jan's credentials (HTTP 401)`}},
		{name: "garbage is the caller's to detect",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  withContent("[fake:garbage]", false),
			want:  check{502, "upstream_bad_response", "not a JSON object"}},
		{name: "html page",
			route: func(t *testing.T) inference.Route {
				return serve(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					_, _ = io.WriteString(w, "<!doctype html><title>Open WebUI</title>")
				})
			},
			want: check{502, "upstream_bad_response", "answered with an HTML page"}},
		{name: "redirect",
			route: func(t *testing.T) inference.Route {
				return serve(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "https://elsewhere.example/v1/chat/completions", http.StatusMovedPermanently)
				})
			},
			want: check{502, "upstream_error", "redirected the request to https://elsewhere.example/v1/chat/completions"}},
		{name: "body not an object",
			route: func(t *testing.T) inference.Route { _, rt := engine(t, fakeengine.Options{}); return rt },
			body:  []byte(`[1,2]`),
			want:  check{400, "invalid_request_body", "must be a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := tt.route(t)
			body := tt.body
			if body == nil {
				body = []byte(chatRequest)
			}
			ctx, cancel := context.WithCancel(ctx)
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			c := inference.NewClient(inference.ClientOptions{HeaderTimeout: tt.timeout})
			start := time.Now()
			resp, err := c.Post(ctx, rt, "/chat/completions", body)
			if err == nil {
				// 2xx: the body is the caller's to judge.
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_, _, _, err = inference.ParseCompletion(b)
			}
			var e *inference.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *inference.Error", err)
			}
			if e.Status != tt.want.status || e.Code != tt.want.code || !strings.Contains(e.Message, tt.want.msg) {
				t.Errorf("got %d %s %q\nwant %d %s %q", e.Status, e.Code, e.Message, tt.want.status, tt.want.code, tt.want.msg)
			}
			if strings.Contains(e.Message, "sk-upstream-secret") || strings.Contains(e.Error(), "sk-upstream-secret") ||
				strings.Contains(e.Error(), "wrong-key-123") {
				t.Errorf("error leaks the provider key: %v", e)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestPostRetryAfterAndRedaction(t *testing.T) {
	t.Parallel()
	rt := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"rate limited for key Bearer k-0123456789\nslow down"}}`)
	})
	rt.Provider.Headers["Authorization"] = "Bearer k-0123456789"
	_, err := inference.NewClient(inference.ClientOptions{}).Post(context.Background(), rt, "/chat/completions", []byte(chatRequest))
	var e *inference.Error
	if !errors.As(err, &e) || e.Status != 429 || e.RetryAfter != "7" {
		t.Fatalf("err = %#v", err)
	}
	if want := `provider "test-engine" rejected the request: rate limited for key [redacted] slow down`; e.Message != want {
		t.Errorf("Message = %q\nwant      %q", e.Message, want)
	}
}

func TestUpstreamMessageShapes(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"error":{"message":"openai style"}}`:                         "openai style",
		`{"error":"ollama style"}`:                                     "ollama style",
		`{"object":"error","message":"vllm style","code":400}`:         "vllm style",
		`{"detail":"fastapi style"}`:                                   "fastapi style",
		`{"detail":[{"loc":["body"],"msg":"x"}]}`:                      "(HTTP 422)",
		`not json at all`:                                              "(HTTP 422)",
		`{"error":{"message":"` + strings.Repeat("long ", 200) + `"}}`: "long long",
	} {
		rt := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, body)
		})
		_, err := inference.NewClient(inference.ClientOptions{}).Post(context.Background(), rt, "/chat/completions", []byte(chatRequest))
		var e *inference.Error
		if !errors.As(err, &e) || !strings.Contains(e.Message, want) || len(e.Message) > 600 {
			t.Errorf("%.40s: Message = %q, want it to contain %q", body, e.Message, want)
		}
	}
}

func TestListModels(t *testing.T) {
	t.Parallel()
	_, rt := engine(t, fakeengine.Options{})
	c := inference.NewClient(inference.ClientOptions{})
	got, err := c.ListModels(context.Background(), rt.Provider)
	if err != nil || len(got) != 1 || got[0].ID != "served-name" {
		t.Errorf("ListModels = %+v, %v", got, err)
	}
	p := *rt.Provider
	p.Headers = nil
	_, err = c.ListModels(context.Background(), &p)
	var e *inference.Error
	if !errors.As(err, &e) || e.Status != 502 {
		t.Errorf("without key: %v", err)
	}
}

func serve(t *testing.T, h http.HandlerFunc) inference.Route {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return route(srv.URL, "k")
}

// closedPort returns a host:port where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
