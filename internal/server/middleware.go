package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

type ctxKey int

const (
	keyRequest ctxKey = iota
	keyBody
)

// requestInfo is what observe puts in a request's context: its id, and its
// logger (the id attached), made on first use — most requests log nothing,
// and slog formats a logger's attributes when it is made.
type requestInfo struct {
	id   string
	base *slog.Logger
	once sync.Once
	log  *slog.Logger
}

// serverJan is the X-Jan-Server header's value, shared: header values are
// replaced, never changed in place.
var serverJan = []string{"jan"}

func (ri *requestInfo) logger() *slog.Logger {
	ri.once.Do(func() { ri.log = ri.base.With("request_id", ri.id) })
	return ri.log
}

// requestStart is when the request arrived (zero outside a request): the
// store's mark (store.WithStart), which lets it answer some reads from
// memory.
func requestStart(ctx context.Context) time.Time { return store.StartOf(ctx) }

func requestID(ctx context.Context) string {
	if ri, ok := ctx.Value(keyRequest).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

// logFrom returns the request's logger (request id attached) or the default.
func logFrom(ctx context.Context) *slog.Logger {
	if ri, ok := ctx.Value(keyRequest).(*requestInfo); ok {
		return ri.logger()
	}
	return slog.Default()
}

// body returns the buffered request body (see bufferBody).
func body(r *http.Request) []byte {
	b, _ := r.Context().Value(keyBody).([]byte)
	return b
}

// saneRequestID accepts a client's X-Request-Id of at most 128 printable
// ASCII characters.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// statusRecorder remembers the status for the access log and span.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe is the outermost middleware: request id, panic recovery, the
// server span and the access log line.
func (s *Server) observe(next http.Handler) http.Handler {
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.bodyDeadline(w, r)
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		h := w.Header()
		h["X-Request-Id"] = []string{id}
		h[inference.ServerHeader] = serverJan // engine detection never mistakes jan for an engine
		ri := &requestInfo{id: id, base: s.log}

		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, r.Method+" "+routeOf(r), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
				attribute.String("jan.request_id", id)))
		ctx = context.WithValue(ctx, keyRequest, ri)
		ctx = store.WithStart(ctx, start)
		rec := &statusRecorder{ResponseWriter: w}
		s.metrics.inflight.Add(1)
		r = r.WithContext(ctx)

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				ri.logger().Error("panic", "panic", v, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeError(rec, r, errInternal)
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			s.metrics.inflight.Add(-1)
			s.metrics.request(r.Method, r.Pattern, status, time.Since(start))
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			if !s.log.Enabled(context.Background(), level) {
				return
			}
			attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status,
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "bytes", rec.bytes}
			if p, ok := auth.FromContext(r.Context()); ok {
				attrs = append(attrs, "principal", p.ID)
			}
			ri.logger().Log(context.Background(), level, "request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// routeOf names the span after the path without ids, keeping cardinality low.
func routeOf(r *http.Request) string {
	parts := strings.Split(r.URL.Path, "/")
	for i, p := range parts {
		if strings.Contains(p, "_") && (strings.HasPrefix(p, "conv_") || strings.HasPrefix(p, "msg_") || strings.HasPrefix(p, "run_") || strings.HasPrefix(p, "resp_")) {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// authenticate requires a principal and puts it in the context; it sets
// the X-Principal-Id, X-Auth-Method and X-Scopes headers.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principalOf(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		h := w.Header()
		h.Set("X-Principal-Id", p.ID)
		h.Set("X-Auth-Method", p.AuthMethod)
		h.Set("X-Scopes", strings.Join(p.Scopes, " "))
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("jan.principal", p.ID))
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

// principalOf finds who a request acts for: a bearer token (JWT or jan_
// API key), an X-API-Key, then a consumer vouched for by the gateway.
func (s *Server) principalOf(r *http.Request) (*auth.Principal, error) {
	if token, ok := bearer(r); ok {
		if auth.IsAPIKey(token) {
			return s.apiKeys.Verify(r.Context(), token)
		}
		return s.verifier.Verify(r.Context(), token)
	}
	if key := r.Header.Get("X-API-Key"); key != "" {
		return s.apiKeys.Verify(r.Context(), key)
	}
	if p, ok := s.gatewayPrincipal(r); ok {
		return p, nil
	}
	return nil, errUnauthorized("missing_token", "missing credentials: send Authorization: Bearer <token> (get one with POST /auth/guest) or X-API-Key: jan_…")
}

// GatewaySecretHeader carries the per-install secret that the gateway (Kong)
// adds to every request it forwards. Only with it are the gateway's consumer
// headers trusted: anyone can send X-Consumer-ID, nobody else knows the secret.
const GatewaySecretHeader = "X-Jan-Gateway-Secret"

// viaGateway reports whether the request carries the gateway secret.
func (s *Server) viaGateway(r *http.Request) bool {
	if s.gatewaySecret == "" {
		return false
	}
	got := r.Header.Get(GatewaySecretHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.gatewaySecret)) == 1
}

// gatewayPrincipal turns Kong's consumer headers into a principal when the
// request carries the gateway secret; an anonymous consumer is no one.
func (s *Server) gatewayPrincipal(r *http.Request) (*auth.Principal, bool) {
	if !s.viaGateway(r) {
		return nil, false
	}
	id := r.Header.Get("X-Consumer-Custom-ID")
	if id == "" {
		if cid := r.Header.Get("X-Consumer-ID"); cid != "" {
			id = "kong_" + cid
		}
	}
	if id == "" || r.Header.Get("X-Anonymous-Consumer") == "true" {
		return nil, false
	}
	return &auth.Principal{ID: id, Username: r.Header.Get("X-Consumer-Username"), Scopes: []string{"user"}, AuthMethod: "api_key"}, true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// principal returns the authenticated principal; handlers behind
// authenticate always have one.
func principal(r *http.Request) *auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}
