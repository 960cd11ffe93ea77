// Package server is jan's llm-api HTTP server: the route table, middleware,
// handlers, the SSE writer, idempotency and the one place errors become HTTP.
// It talks to the store and the engines only through the interfaces it is
// given (store.Store, *inference.Registry, an Upstream, an auth.Verifier);
// it never starts containers or reads configuration files.
package server

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// Upstream sends a request to the engine that serves a route
// (*inference.Client in production).
type Upstream interface {
	Post(ctx context.Context, route inference.Route, path string, body []byte) (*http.Response, error)
}

// Options wires a Server. Store, Registry, Upstream and Identity are required.
type Options struct {
	Store    store.Store
	Registry *inference.Registry
	Upstream Upstream
	Identity auth.IdentityProvider // guest accounts, refresh, upgrade, logout; its Verifier checks tokens
	Issuer   *auth.Issuer          // the embedded issuer, whose discovery and JWKS documents jan serves; nil otherwise
	Logger   *slog.Logger
	Tracer   trace.Tracer
	// Bodies bound the reading of request bodies (size, time, rate, the
	// server-wide buffer); zero fields get defaults.
	Bodies    BodyLimits
	Keepalive time.Duration // SSE keepalive interval; default 15s
	// Durability tunes run checkpoints, recovery and final-write retries.
	Durability Durability
	// ListBytes ends a list page early once its items' text adds up to it
	// (default 1 MiB): a page of 100 large messages would be 400 MB.
	ListBytes int
	// ProviderCheck reports whether at least one provider answers (for /readyz); nil → always ok.
	ProviderCheck func(ctx context.Context) error
	// RateLimits per role; nil → no rate limiting.
	RateLimits *RateLimits
	// GatewaySecret, when set, makes requests carrying it in
	// X-Jan-Gateway-Secret trusted for Kong's X-Consumer-* headers.
	GatewaySecret string
	// PublicURL is the server's address as browsers reach it: the browser
	// sign-in's callback is PublicURL + "/auth/callback".
	PublicURL string
	// LoginRedirects allow-lists where the browser sign-in may send a
	// browser back (exact, or a prefix ending in *); loopback http URLs
	// always may.
	LoginRedirects []string
	// Metrics: where the instruments go and how /metrics is served.
	Metrics MetricsOptions
}

// MetricsOptions wire the server's instruments and its /metrics route.
type MetricsOptions struct {
	Provider metric.MeterProvider // nil: instruments are no-ops
	Handler  http.Handler         // the Prometheus exposition; nil: no /metrics
	// Token, when set, is the bearer /metrics requires. Without one,
	// /metrics answers only when Open (a loopback listen address).
	Token string
	Open  bool
	// Elsewhere: /metrics is served on its own address (MetricsHandler),
	// not on the API's.
	Elsewhere bool
}

// Server serves the API. Create it with New; it is an http.Handler.
type Server struct {
	store         store.Store
	models        *inference.Registry
	upstream      Upstream
	engineReports engineReports // what engines say of their models, for the catalog
	identity      auth.IdentityProvider
	signIn        auth.BrowserLogin // nil: no browser sign-in
	verifier      auth.Verifier
	apiKeys       *auth.APIKeys
	issuer        *auth.Issuer
	log           *slog.Logger
	tracer        trace.Tracer
	bodyLimits    BodyLimits
	bodies        *budget // body bytes held by all requests
	keepalive     time.Duration
	listBytes     int
	durability    Durability
	ready         func(ctx context.Context) error
	limits        *limiter // nil: no limits
	gatewaySecret string
	login         loginSettings // the browser sign-in
	patterns      []string      // the route table's patterns, in order (the OpenAPI test walks them)
	metrics       *metrics
	metricsOpts   MetricsOptions
	draining      atomic.Bool // shutting down: /readyz says 503
	handler       http.Handler

	// shutdown is cancelled when the server stops: streams still running end
	// with an error event and keep what they produced.
	shutdown context.Context
	stop     context.CancelCauseFunc

	started     time.Time
	createdOnce sync.Once
	createdAt   map[string]time.Time // model id → first served

	runsMu sync.Mutex
	runs   map[string]*activeRun // runs executing in this process, by id

	histories historyJSON // stored histories as engine JSON, for chat turns

	dbMu       sync.Mutex
	dbChecked  time.Time // when readyz last wrote to the database (at most every dbCheckEvery)
	dbWriteErr error
}

// dbCheckEvery bounds how often /readyz, which anyone may call, writes to
// the database.
const dbCheckEvery = 2 * time.Second

// New builds the server and its route table.
func New(o Options) *Server {
	s := &Server{
		store: o.Store, models: o.Registry, upstream: o.Upstream, identity: o.Identity, signIn: browserLoginOf(o.Identity), verifier: o.Identity.Verifier(), issuer: o.Issuer,
		log: o.Logger, tracer: o.Tracer, bodyLimits: o.Bodies.withDefaults(), keepalive: o.Keepalive, ready: o.ProviderCheck,
		runs: map[string]*activeRun{}, started: time.Now(), gatewaySecret: o.GatewaySecret,
		login: loginSettings{callback: callbackURL(o.PublicURL), allowed: o.LoginRedirects},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("jan")
	}
	var pools func() map[string]sql.DBStats
	if ps, ok := o.Store.(interface{ PoolStats() map[string]sql.DBStats }); ok {
		pools = ps.PoolStats
	}
	s.metrics, s.metricsOpts = newMetrics(o.Metrics.Provider, pools), o.Metrics
	s.bodies = &budget{max: s.bodyLimits.Buffer}
	s.listBytes = orDefault(o.ListBytes, 1<<20)
	s.durability = o.Durability.withDefaults()
	if s.durability.Instance == "" {
		host, _ := os.Hostname()
		s.durability.Instance = host + "/pid-" + strconv.Itoa(os.Getpid())
	}
	s.apiKeys = auth.NewAPIKeys(o.Store)
	if o.RateLimits != nil {
		s.limits = newLimiter(*o.RateLimits)
	}
	if s.keepalive <= 0 {
		s.keepalive = 15 * time.Second
	}
	s.shutdown, s.stop = context.WithCancelCause(context.Background())
	s.handler = s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// errShuttingDown is the cause streams see when the server stops.
var errShuttingDown = &apiError{Status: http.StatusServiceUnavailable, Type: "unavailable_error", Code: "server_shutting_down",
	Message: "the server is shutting down; this stream was ended early (a run keeps its partial answer)"}

// Stop ends the streams still running: each sends an error event, saves its
// partial answer and finishes. Call it after http.Server.Shutdown's grace.
func (s *Server) Stop() { s.stop(errShuttingDown) }

// routes is the one route table. Each kind of route has its gatekeepers in
// the order that makes refusals cheapest: nobody's body is read before they
// are authenticated and within their rate limit.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	// public routes are reads anyone may make.
	public := func(pattern string, h http.Handler) { handle(pattern, h) }
	// signIn routes are the public /auth writes, limited per client address.
	signIn := func(pattern string, h http.HandlerFunc) {
		handle(pattern, s.perAddress(s.readBody(authBodyLimit, h)))
	}
	private := func(pattern string, h http.HandlerFunc) {
		handle(pattern, s.authenticate(s.rateLimit(textOnly(s.readBody(s.bodyLimits.Max, h)))))
	}
	// idempotent routes record and replay responses per Idempotency-Key.
	idempotent := func(pattern string, h http.HandlerFunc) {
		handle(pattern, s.authenticate(s.rateLimit(textOnly(s.readBody(s.bodyLimits.Max, s.idempotency(h))))))
	}

	public("GET /healthz", http.HandlerFunc(s.healthz))
	public("GET /readyz", http.HandlerFunc(s.readyz))
	public("GET /v1/openapi.json", http.HandlerFunc(s.openAPI))
	if s.metricsOpts.Handler != nil && !s.metricsOpts.Elsewhere {
		public("GET /metrics", s.MetricsHandler())
	}
	if s.issuer != nil {
		public("GET "+auth.DiscoveryPath, s.issuer.DiscoveryHandler())
		public("GET "+auth.JWKSPath, s.issuer.JWKSHandler())
		signIn("POST "+auth.TokenPath, s.token)
	}
	signIn("POST /auth/guest", s.guest)
	signIn("POST /auth/guest-login", s.guest)
	signIn("POST /auth/refresh", s.refresh)
	signIn("POST /auth/refresh-token", s.refresh)
	signIn("GET /auth/refresh-token", s.refresh)
	signIn("POST /auth/logout", s.logout)
	signIn("GET /auth/logout", s.logout)
	signIn("GET /auth/login", s.browserLogin)
	signIn("GET /auth/callback", s.browserCallback)
	handle("POST /auth/upgrade", s.authenticate(s.rateLimit(s.perAddress(s.readBody(authBodyLimit, http.HandlerFunc(s.upgrade))))))
	private("GET /auth/me", s.me)

	idempotent("POST /v1/api-keys", s.createAPIKey)
	private("GET /v1/api-keys", s.listAPIKeys)
	private("DELETE /v1/api-keys/{id}", s.deleteAPIKey)
	// jan-server's spellings of the same (see API.md "jan-server compatibility").
	idempotent("POST /auth/api-keys", s.createAPIKey)
	private("GET /auth/api-keys", s.listAuthAPIKeys)
	private("DELETE /auth/api-keys/{id}", s.deleteAuthAPIKey)

	private("GET /v1/admin/users", s.requireAdmin(s.listUsers))
	private("POST /v1/admin/models/sync", s.requireAdmin(s.syncModels))

	private("GET /v1/models", s.listModels)
	private("GET /v1/models/{id...}", s.getModel)
	private("GET /v1/models/catalogs/{id...}", s.getModelCatalog)
	private("GET /v1/models/providers", s.listModelProviders)
	idempotent("POST /v1/chat/completions", s.chatCompletions)
	idempotent("POST /v1/completions", s.completions)

	idempotent("POST /v1/projects", s.createProject)
	private("GET /v1/projects", s.listProjects)
	private("GET /v1/projects/{id}", s.getProject)
	private("PATCH /v1/projects/{id}", s.updateProject)
	private("DELETE /v1/projects/{id}", s.deleteProject)

	idempotent("POST /v1/conversations", s.createConversation)
	private("GET /v1/conversations", s.listConversations)
	private("GET /v1/conversations/{id}", s.getConversation)
	private("PATCH /v1/conversations/{id}", s.updateConversation)
	private("POST /v1/conversations/{id}", s.updateConversation)
	private("DELETE /v1/conversations/{id}", s.deleteConversation)
	idempotent("POST /v1/conversations/{id}/messages", s.createMessage)
	private("GET /v1/conversations/{id}/messages", s.listMessages)
	idempotent("POST /v1/conversations/{id}/runs", s.createRun)
	private("GET /v1/conversations/{id}/runs/{run_id}", s.getRun)
	private("POST /v1/conversations/{id}/runs/{run_id}/cancel", s.cancelRun)
	private("GET /v1/conversations/{id}/runs/{run_id}/events", s.runEvents)
	idempotent("POST /v1/responses", s.createResponse)
	private("GET /v1/responses/{id}", s.getResponse)
	private("DELETE /v1/responses/{id}", s.deleteResponse)
	private("GET /v1/responses/{id}/input_items", s.listInputItems)
	private("POST /v1/responses/{id}/cancel", s.cancelResponse)
	private("POST /v1/conversations/{id}/items", s.createItems)
	private("GET /v1/conversations/{id}/items", s.listItems)
	private("GET /v1/conversations/{id}/items/{item_id}", s.getItem)
	private("DELETE /v1/conversations/{id}/items/{item_id}", s.deleteItem)

	notFound := s.noRoute(mux)
	mux.Handle("/", notFound)
	return s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect an unclean path (//x, /a/../b) to its clean
		// form; jan's routes have one spelling each, so it is not found.
		if p := r.URL.EscapedPath(); !isCleanPath(p) {
			notFound.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// noRoute answers a request no route takes: 405 with Allow when the path
// is served for other methods (OPTIONS included), else 404.
func (s *Server) noRoute(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		if isCleanPath(r.URL.EscapedPath()) {
			for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete} {
				probe := r.Clone(r.Context())
				probe.Method = m
				if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
					allow = append(allow, m)
				}
			}
		}
		if len(allow) == 0 {
			writeError(w, r, errNotFound("unknown_route", "no route for %s %s", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
			Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
	})
}

// isCleanPath reports whether p is already in the form ServeMux routes
// (no empty, "." or ".." segments).
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return true
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeRawJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// dbCheck is the database's readiness: it answers (asked every time) and
// can write (a write at most every dbCheckEvery, whose answer is kept).
func (s *Server) dbCheck(ctx context.Context) error {
	err := s.store.Ping(ctx)
	if err == nil {
		s.dbMu.Lock()
		if time.Since(s.dbChecked) >= dbCheckEvery {
			s.dbWriteErr = s.store.CheckWrite(ctx)
			s.dbChecked = time.Now()
		}
		err = s.dbWriteErr
		s.dbMu.Unlock()
	}
	if err != nil {
		logFrom(ctx).Warn("readyz: database", "err", err)
		return errDBUnavailable
	}
	return nil
}

// readyz is 200 only when the database, the identity keys and at least one
// provider answer; otherwise 503 naming what failed.
// Drain makes /readyz answer 503 from now on, so load balancers stop
// sending requests; the server goes on serving those that still come.
func (s *Server) Drain() { s.draining.Store(true) }

// InFlight is the number of requests being served.
func (s *Server) InFlight() int64 { return s.metrics.inflight.Load() }

// ActiveRuns is the number of runs and background responses running here,
// with or without a client.
func (s *Server) ActiveRuns() int {
	s.runsMu.Lock()
	defer s.runsMu.Unlock()
	return len(s.runs)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining", "checks": map[string]string{"server": "shutting down"}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	check := func(name string, err error) {
		if err != nil {
			checks[name] = err.Error()
			ok = false
			return
		}
		checks[name] = "ok"
	}
	check("database", s.dbCheck(ctx))
	// The embedded issuer's key is loaded at start; Keycloak is asked.
	if r, ok := s.identity.(interface{ Ready(context.Context) error }); ok {
		check("identity", r.Ready(ctx))
	} else {
		check("identity", nil)
	}
	if s.ready != nil {
		check("providers", s.ready(ctx))
	} else {
		check("providers", nil)
	}
	status, word := http.StatusOK, "ok"
	if !ok {
		status, word = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": word, "checks": checks})
}
