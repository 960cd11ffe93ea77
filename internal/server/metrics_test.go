package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// scrape reads /metrics and parses it as Prometheus does.
func (e *env) scrape(token string) map[string]*dto.MetricFamily {
	e.t.Helper()
	r := e.do("GET", "/metrics", token, nil, nil)
	if r.status != 200 {
		e.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		e.t.Fatalf("parse /metrics: %v\n%s", err, r.body)
	}
	return fams
}

// sample finds the metric of family name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, envOptions{limits: &RateLimits{Guest: RateLimit{PerMinute: 600, Burst: 8, Streams: 2}}})
	tok := e.guest()
	chat := map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "hi"}},
		"stream_options": map[string]bool{"include_usage": true}}
	if r := e.do("POST", "/v1/chat/completions", tok, chat, map[string]string{"Idempotency-Key": "k1"}); r.status != 200 {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/chat/completions", tok, chat, map[string]string{"Idempotency-Key": "k1"}); r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", r.status, r.header)
	}
	chat["stream"] = true
	if r := e.do("POST", "/v1/chat/completions", tok, chat, nil); r.status != 200 || !strings.Contains(string(r.body), "[DONE]") {
		t.Fatalf("stream: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/conversations/conv_X", tok, nil, nil); r.status != 404 {
		t.Fatalf("missing conversation: %d", r.status)
	}
	if r := e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "hi [fake:status=500]"}}}, nil); r.status < 500 {
		t.Fatalf("engine failure: %d", r.status)
	}
	if r := e.do("GET", "/no/such/route/conv_secret", tok, nil, nil); r.status != 404 {
		t.Fatalf("unknown route: %d", r.status)
	}
	limited := 0
	for range 20 {
		if r := e.do("GET", "/v1/models", tok, nil, nil); r.status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no request was rate limited")
	}

	fams := e.scrape("")
	count := func(name string, labels map[string]string) float64 {
		t.Helper()
		m := sample(fams, name, labels)
		if m == nil {
			t.Errorf("no %s%v", name, labels)
			return -1
		}
		switch {
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
		return -1
	}
	want := func(name string, labels map[string]string, n float64) {
		t.Helper()
		if got := count(name, labels); got != n && got != -1 {
			t.Errorf("%s%v = %v, want %v", name, labels, got, n)
		}
	}
	atLeast := func(name string, labels map[string]string, n float64) {
		t.Helper()
		if got := count(name, labels); got < n && got != -1 {
			t.Errorf("%s%v = %v, want at least %v", name, labels, got, n)
		}
	}
	// The route pattern, never the raw path.
	want("http_server_request_duration_seconds", map[string]string{"http_request_method": "GET", "http_route": "/v1/conversations/{id}", "http_response_status_code": "404"}, 1)
	want("http_server_request_duration_seconds", map[string]string{"http_request_method": "POST", "http_route": "/v1/chat/completions", "http_response_status_code": "200"}, 3)
	want("http_server_request_duration_seconds", map[string]string{"http_route": "unmatched", "http_response_status_code": "404"}, 1)
	want("http_server_request_duration_seconds", map[string]string{"http_route": "/v1/models", "http_response_status_code": "429"}, float64(limited))
	model := map[string]string{"gen_ai_request_model": testModel, "gen_ai_provider_name": "fake"}
	want("gen_ai_server_time_to_first_token_seconds", model, 1)
	want("gen_ai_server_request_duration_seconds", model, 3) // the chat, the stream, the failed one
	want("gen_ai_client_token_usage", map[string]string{"gen_ai_request_model": testModel, "gen_ai_token_type": "input"}, 2)
	want("gen_ai_client_token_usage", map[string]string{"gen_ai_request_model": testModel, "gen_ai_token_type": "output"}, 2)
	want("jan_streams_active", nil, 0)
	want("jan_idempotent_replays_total", nil, 1)
	want("jan_rate_limited_total", map[string]string{"limit": "requests"}, float64(limited))
	want("jan_upstream_errors_total", map[string]string{"gen_ai_provider_name": "fake", "error_type": "upstream_error"}, 1)
	atLeast("jan_http_requests_last_minute", nil, 10)
	atLeast("jan_db_pool_connections_open", map[string]string{"pool": "write"}, 1)
	atLeast("go_goroutines", nil, 1)
	atLeast("process_cpu_seconds_total", nil, 0)

	// No label carries an id, a token or text.
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				v := l.GetValue()
				if strings.Contains(v, "conv_") || strings.Contains(v, "user_") || strings.Contains(v, tok[:20]) || strings.Contains(v, "secret") || strings.Contains(v, "hi") && l.GetName() != "http_route" {
					t.Errorf("%s has label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// /metrics on a non-loopback address needs JAN_METRICS_TOKEN.
func TestMetricsAccess(t *testing.T) {
	e := newEnv(t, envOptions{})
	open := e.srv.metricsOpts
	e.srv.metricsOpts.Open = false
	h := e.srv.MetricsHandler()
	rec := func(token string) int {
		req, _ := http.NewRequest("GET", "/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := &statusOnly{header: http.Header{}}
		h.ServeHTTP(w, req)
		return w.status
	}
	if s := rec(""); s != 403 {
		t.Errorf("not loopback, no token: %d", s)
	}
	e.srv.metricsOpts.Token = "m3trics"
	h = e.srv.MetricsHandler()
	if s := rec(""); s != 401 {
		t.Errorf("token set, none sent: %d", s)
	}
	if s := rec("wrong"); s != 401 {
		t.Errorf("wrong token: %d", s)
	}
	if s := rec("m3trics"); s != 200 {
		t.Errorf("right token: %d", s)
	}
	e.srv.metricsOpts = open
}

type statusOnly struct {
	header http.Header
	status int
}

func (w *statusOnly) Header() http.Header { return w.header }
func (w *statusOnly) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(b), nil
}
func (w *statusOnly) WriteHeader(s int) { w.status = s }

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the same instruments are pushed
// over OTLP/HTTP to the collector's /v1/metrics.
func TestMetricsExportedOverOTLP(t *testing.T) {
	var mu sync.Mutex
	got := map[string]bool{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/metrics" {
			w.WriteHeader(http.StatusOK) // traces: not this test's
			return
		}
		var req colmetric.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, "bad export", 400)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					got[m.Name] = true
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	e := newEnv(t, envOptions{otlp: collector.URL})
	tok := e.guest()
	if r := e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}}, nil); r.status != 200 {
		t.Fatalf("stream: %d %s", r.status, r.body)
	}
	mp, ok := e.srv.metricsOpts.Provider.(*sdkmetric.MeterProvider)
	if !ok {
		t.Fatalf("meter provider %T", e.srv.metricsOpts.Provider)
	}
	if err := mp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"http.server.request.duration", "gen_ai.server.time_to_first_token", "gen_ai.server.request.duration", "jan.streams.active"} {
		if !got[name] {
			t.Errorf("the collector did not receive %s; it got %v", name, got)
		}
	}
}

// BenchmarkMetricsCost is what the instruments cost a request: the same
// server's handler chain (a guest's GET /v1/models: observe, authenticate,
// the handler) served in turns with its real instruments (Prometheus and
// the SDK) and with no-op ones. metrics-ns/op is the difference.
func BenchmarkMetricsCost(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok := e.guest()
	e.srv.log = slog.New(slog.DiscardHandler) // the access log would grow the test's buffer
	real, noop := e.srv.metrics, newMetrics(nil, nil)
	req := httptest.NewRequest("GET", "/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	serve := func() {
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	for range 1000 { // warm both: caches, attribute sets
		serve()
	}
	// Alternate which goes first, so neither pays for the other's garbage.
	var with, without time.Duration
	timed := func(m *metrics) time.Duration {
		e.srv.metrics = m
		t0 := time.Now()
		serve()
		return time.Since(t0)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			without += timed(noop)
			with += timed(real)
		} else {
			with += timed(real)
			without += timed(noop)
		}
	}
	b.StopTimer()
	e.srv.metrics = real
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(with), "with-ns/op")
	b.ReportMetric(per(without), "without-ns/op")
	b.ReportMetric(per(with)-per(without), "metrics-ns/op")
}
