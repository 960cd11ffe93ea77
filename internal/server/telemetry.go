package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/janhq/jan/internal/config"
)

// setupTracing exports spans over OTLP/HTTP when t names an endpoint;
// otherwise tracing is a no-op that costs nothing per request.
func setupTracing(ctx context.Context, t config.Telemetry) (trace.Tracer, func(), error) {
	if !t.Enabled() {
		return noop.NewTracerProvider().Tracer("jan"), func() {}, nil
	}
	endpoint := t.TracesEndpoint
	if endpoint == "" {
		endpoint = strings.TrimRight(t.Endpoint, "/") + "/v1/traces"
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if h := otlpHeaders(t.Headers); h != nil {
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("OpenTelemetry exporter: %w (check OTEL_EXPORTER_OTLP_ENDPOINT)", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(serviceName(t)))),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Tracer("jan"), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}, nil
}

// propagating injects the W3C traceparent of the request's span into calls
// to engines, so an engine that traces (vLLM does) joins jan's trace.
type propagating struct{ base http.RoundTripper }

func (p propagating) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(r.Context()).IsValid() {
		r = r.Clone(r.Context())
		propagation.TraceContext{}.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	}
	return p.base.RoundTrip(r)
}

// CloseIdleConnections passes the call on (http.Client.CloseIdleConnections).
func (p propagating) CloseIdleConnections() {
	if c, ok := p.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// setupMetrics makes the meter provider behind the server's instruments:
// always a Prometheus reader (its registry, with the Go runtime and
// process collectors, is served at /metrics), and an OTLP/HTTP reader
// when t names an endpoint.
func setupMetrics(ctx context.Context, t config.Telemetry) (*sdkmetric.MeterProvider, http.Handler, func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithReader(prom)}
	if t.MetricsEnabled() {
		endpoint := t.MetricsEndpoint
		if endpoint == "" {
			endpoint = strings.TrimRight(t.Endpoint, "/") + "/v1/metrics"
		}
		mopts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(endpoint)}
		if h := otlpHeaders(t.Headers); h != nil {
			mopts = append(mopts, otlpmetrichttp.WithHeaders(h))
		}
		exp, err := otlpmetrichttp.New(ctx, mopts...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("OpenTelemetry metric exporter: %w (check OTEL_EXPORTER_OTLP_ENDPOINT)", err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)),
			sdkmetric.WithResource(resource.NewSchemaless(semconv.ServiceName(serviceName(t)))))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	return mp, handler, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mp.Shutdown(ctx) // pushes what the OTLP reader has not sent yet
	}, nil
}

func serviceName(t config.Telemetry) string {
	if t.ServiceName != "" {
		return t.ServiceName
	}
	return "jan-llm-api"
}

// otlpHeaders parses OTEL_EXPORTER_OTLP_HEADERS (k=v,k=v); nil when empty.
func otlpHeaders(s string) map[string]string {
	if s == "" {
		return nil
	}
	headers := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return headers
}
