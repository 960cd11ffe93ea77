package server

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/janhq/jan/internal/inference"
)

// metrics are the server's instruments, through the OpenTelemetry metric
// API (read by the Prometheus exporter behind /metrics and, when an
// endpoint is configured, pushed over OTLP). Names follow the HTTP and
// GenAI semantic conventions. Labels are bounded: route patterns, models
// jan serves, providers, status codes and fixed classes — never an id, a
// token or text. Attribute sets are built once per combination and reused.
type metrics struct {
	httpDuration   metric.Float64Histogram
	ttft           metric.Float64Histogram
	genDuration    metric.Float64Histogram
	tokens         metric.Int64Histogram
	streams        metric.Int64UpDownCounter
	upstreamErrors metric.Int64Counter
	rateLimited    metric.Int64Counter
	replays        metric.Int64Counter

	sets      sync.Map     // attribute key → metric.MeasurementOption
	inflight  atomic.Int64 // requests being served (draining waits for 0)
	lastMin   minuteWindow // requests in the last minute, for jan status
	poolStats func() map[string]sql.DBStats
}

// Buckets: seconds, from 5 ms (a cached read) to 5 minutes (a long answer).
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Tokens per request, as the GenAI conventions suggest.
var tokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576}

func newMetrics(mp metric.MeterProvider, poolStats func() map[string]sql.DBStats) *metrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := &metrics{poolStats: poolStats}
	meter := mp.Meter("github.com/janhq/jan/internal/server")
	m.httpDuration, _ = meter.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."), metric.WithExplicitBucketBoundaries(durationBuckets...))
	m.ttft, _ = meter.Float64Histogram("gen_ai.server.time_to_first_token", metric.WithUnit("s"),
		metric.WithDescription("Time from the request's arrival to the first token sent to the client."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	m.genDuration, _ = meter.Float64Histogram("gen_ai.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of generation requests, first byte to last."), metric.WithExplicitBucketBoundaries(durationBuckets...))
	m.tokens, _ = meter.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens used per request, by type (input, output)."), metric.WithExplicitBucketBoundaries(tokenBuckets...))
	m.streams, _ = meter.Int64UpDownCounter("jan.streams.active", metric.WithDescription("Streams being sent to clients."))
	m.upstreamErrors, _ = meter.Int64Counter("jan.upstream.errors", metric.WithDescription("Failed engine requests, by provider and class."))
	m.rateLimited, _ = meter.Int64Counter("jan.rate_limited", metric.WithDescription("Requests refused by a rate limit, by limit."))
	m.replays, _ = meter.Int64Counter("jan.idempotent_replays", metric.WithDescription("Responses replayed for a repeated Idempotency-Key."))
	lastMin, _ := meter.Int64ObservableGauge("jan.http.requests.last_minute", metric.WithDescription("Requests served in the last 60 seconds."))
	reg := []metric.Observable{lastMin}
	var open, inUse, idle, waits metric.Int64ObservableGauge
	if poolStats != nil {
		open, _ = meter.Int64ObservableGauge("jan.db.pool.connections.open", metric.WithDescription("Open database connections, by pool."))
		inUse, _ = meter.Int64ObservableGauge("jan.db.pool.connections.in_use", metric.WithDescription("Database connections in use, by pool."))
		idle, _ = meter.Int64ObservableGauge("jan.db.pool.connections.idle", metric.WithDescription("Idle database connections, by pool."))
		waits, _ = meter.Int64ObservableGauge("jan.db.pool.waits", metric.WithDescription("Times a request waited for a database connection, by pool, since start."))
		reg = append(reg, open, inUse, idle, waits)
	}
	_, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(lastMin, m.lastMin.sum(time.Now()))
		if poolStats == nil {
			return nil
		}
		for name, st := range poolStats() {
			set := metric.WithAttributes(attribute.String("pool", name))
			o.ObserveInt64(open, int64(st.OpenConnections), set)
			o.ObserveInt64(inUse, int64(st.InUse), set)
			o.ObserveInt64(idle, int64(st.Idle), set)
			o.ObserveInt64(waits, st.WaitCount, set)
		}
		return nil
	}, reg...)
	return m
}

// set returns the measurement option for key, building it with attrs the
// first time.
func (m *metrics) set(key string, attrs func() []attribute.KeyValue) metric.MeasurementOption {
	if v, ok := m.sets.Load(key); ok {
		return v.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(attrs()...))
	if v, loaded := m.sets.LoadOrStore(key, o); loaded {
		return v.(metric.MeasurementOption)
	}
	return o
}

// request records one HTTP request: pattern is the mux's route pattern
// ("GET /v1/conversations/{id}"), "" when no route matched.
func (m *metrics) request(method, pattern string, status int, d time.Duration) {
	route := pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		route = path
	}
	if route == "" || route == "/" {
		route = "unmatched" // any path: never the raw one
		method = boundedMethod(method)
	}
	key := method + " " + route + " " + strconv.Itoa(status)
	set := m.set(key, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("http.request.method", method), attribute.String("http.route", route),
			attribute.Int("http.response.status_code", status)}
	})
	m.httpDuration.Record(context.Background(), d.Seconds(), set)
	m.lastMin.add(time.Now())
}

// boundedMethod keeps the method label to the standard ones.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "_OTHER"
}

func (m *metrics) model(rt inference.Route) metric.MeasurementOption {
	return m.set("model "+rt.Provider.Name+" "+rt.PublicID, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("gen_ai.request.model", rt.PublicID), attribute.String("gen_ai.provider.name", rt.Provider.Name)}
	})
}

// firstToken records the time to first token of a request that arrived at start.
func (m *metrics) firstToken(rt inference.Route, start time.Time) {
	if !start.IsZero() {
		m.ttft.Record(context.Background(), time.Since(start).Seconds(), m.model(rt))
	}
}

// generation records how long an engine request took, answered or failed.
func (m *metrics) generation(rt inference.Route, start time.Time) {
	if !start.IsZero() {
		m.genDuration.Record(context.Background(), time.Since(start).Seconds(), m.model(rt))
	}
}

// usage records an answer's token counts (nil when the engine did not say).
func (m *metrics) usage(rt inference.Route, u *inference.Usage) {
	if u == nil {
		return
	}
	for _, t := range []struct {
		kind string
		n    int
	}{{"input", u.PromptTokens}, {"output", u.CompletionTokens}} {
		set := m.set("tokens "+rt.Provider.Name+" "+rt.PublicID+" "+t.kind, func() []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("gen_ai.request.model", rt.PublicID),
				attribute.String("gen_ai.provider.name", rt.Provider.Name), attribute.String("gen_ai.token.type", t.kind)}
		})
		m.tokens.Record(context.Background(), int64(t.n), set)
	}
}

// upstreamError counts an engine request that failed, by provider and class
// (the inference error's code: a fixed set).
func (m *metrics) upstreamError(provider, class string) {
	m.upstreamErrors.Add(context.Background(), 1, m.set("upstream "+provider+" "+class, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("gen_ai.provider.name", provider), attribute.String("error.type", class)}
	}))
}

// limited counts a refusal by a rate limit: requests, sign_in or streams.
func (m *metrics) limited(limit string) {
	m.rateLimited.Add(context.Background(), 1, m.set("limit "+limit, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("limit", limit)}
	}))
}

func (m *metrics) replayed() { m.replays.Add(context.Background(), 1) }

func (m *metrics) streamOpened() { m.streams.Add(context.Background(), 1) }
func (m *metrics) streamClosed() { m.streams.Add(context.Background(), -1) }

// minuteWindow counts events in the last 60 seconds: one bucket a second,
// each stamped with its second so a stale one reads as empty.
type minuteWindow struct {
	buckets [60]struct{ sec, n atomic.Int64 }
}

func (w *minuteWindow) add(now time.Time) {
	sec := now.Unix()
	b := &w.buckets[sec%60]
	if b.sec.Load() != sec {
		b.sec.Store(sec) // a racing add may lose a count at the turn of a second: fine for a gauge
		b.n.Store(0)
	}
	b.n.Add(1)
}

func (w *minuteWindow) sum(now time.Time) int64 {
	var total int64
	cut := now.Unix() - 60
	for i := range w.buckets {
		if b := &w.buckets[i]; b.sec.Load() > cut {
			total += b.n.Load()
		}
	}
	return total
}

// MetricsHandler serves the Prometheus exposition with the access rule of
// MetricsOptions: the bearer token when one is set, else only when open.
// With MetricsOptions.Elsewhere it is what the separate listener serves.
func (s *Server) MetricsHandler() http.Handler {
	o := s.metricsOpts
	if o.Handler == nil {
		return http.NotFoundHandler()
	}
	want := []byte("Bearer " + o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case o.Token != "":
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				writeError(w, r, errUnauthorized("invalid_metrics_token", "/metrics needs Authorization: Bearer $JAN_METRICS_TOKEN"))
				return
			}
		case !o.Open && !o.Elsewhere:
			writeError(w, r, &apiError{Status: http.StatusForbidden, Type: "auth_error", Code: "metrics_token_required",
				Message: "this server listens beyond loopback: set JAN_METRICS_TOKEN (and send it as a bearer token) or serve /metrics on --metrics-addr"})
			return
		}
		o.Handler.ServeHTTP(w, r)
	})
}
