package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
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
	if t.Headers != "" {
		headers := map[string]string{}
		for _, kv := range strings.Split(t.Headers, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("OpenTelemetry exporter: %w (check OTEL_EXPORTER_OTLP_ENDPOINT)", err)
	}
	name := t.ServiceName
	if name == "" {
		name = "jan-llm-api"
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
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
