package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/janhq/jan/internal/store/pgtest"
)

// With OTEL_EXPORTER_OTLP_ENDPOINT set, each request exports a server span
// and each engine call a client span in the same trace, and the engine
// receives the trace context.
func TestTracesExportedOverOTLP(t *testing.T) {
	var mu sync.Mutex
	spans := map[string][]byte{} // name → parent span id
	traces := map[string]bool{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "bad export", 400)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[s.Name] = s.ParentSpanId
					traces[string(s.TraceId)] = true
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(nil)
	}))
	defer collector.Close()
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "10")

	var sawTraceparent atomic.Bool
	e := newEnv(t, envOptions{otlp: collector.URL})
	e.engineHook = func(r *http.Request) {
		if r.Header.Get("Traceparent") != "" {
			sawTraceparent.Store(true)
		}
	}
	tok := e.guest()
	r := e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "hi"}}}, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	flushTraces(t)

	mu.Lock()
	defer mu.Unlock()
	server, ok := spans["POST /v1/chat/completions"]
	if !ok {
		t.Fatalf("no server span; got %v", keys(spans))
	}
	if len(server) != 0 {
		t.Errorf("server span has a parent")
	}
	if _, ok := spans["upstream POST /chat/completions"]; !ok {
		t.Fatalf("no upstream span; got %v", keys(spans))
	}
	if len(spans["upstream POST /chat/completions"]) == 0 {
		t.Errorf("upstream span is not a child")
	}
	if !sawTraceparent.Load() {
		t.Error("the engine request carried no traceparent")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A database that goes away: /readyz says so with 503, requests get a clear
// 503, and the process keeps serving.
func TestDatabaseUnreachable(t *testing.T) {
	dsn, proxy := pgtest.CuttableURL(t)
	e := newEnv(t, envOptions{dsn: dsn})
	tok := e.guest()
	if r := e.do("GET", "/readyz", "", nil, nil); r.status != 200 {
		t.Fatalf("readyz before: %d %s", r.status, r.body)
	}
	proxy.Cut()

	r := e.do("GET", "/readyz", "", nil, nil)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	r.decode(t, &ready)
	if r.status != 503 || ready.Checks["database"] == "ok" || ready.Checks["providers"] != "ok" {
		t.Errorf("readyz after the cut: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/v1/conversations", "/v1/conversations?limit=5"} {
		r := e.do("GET", path, tok, nil, nil)
		if r.status != 503 || r.errorCode(t) != "database_unavailable" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r = e.do("POST", "/v1/conversations", tok, map[string]any{}, nil)
	if r.status != 503 || r.errorCode(t) != "database_unavailable" {
		t.Errorf("POST conversation: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/healthz", "", nil, nil); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
}

// TestRequestLogsCarryTheRequestID: the access log line and what a handler
// logs (logFrom) carry the id the response's X-Request-Id names — the
// logger observe makes on first use is the request's, not another's.
func TestRequestLogsCarryTheRequestID(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.srv.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logFrom(r.Context()).Warn("from the handler", "path", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, id := range []string{"trace-me-1", "trace-me-2"} {
		req := httptest.NewRequest(http.MethodGet, "/x/"+id, nil)
		req.Header.Set("X-Request-Id", id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-Id"); got != id {
			t.Errorf("X-Request-Id %q, want %q", got, id)
		}
	}
	logs := e.logs.String()
	for _, id := range []string{"trace-me-1", "trace-me-2"} {
		for _, want := range []string{
			`msg="from the handler" request_id=` + id + ` path=/x/` + id,
			`msg=request request_id=` + id + ` method=GET path=/x/` + id + ` status=418`,
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("no log line with %q in:\n%s", want, logs)
			}
		}
	}
}
