package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/janhq/jan/internal/auth/keycloaktest"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store"
	"github.com/janhq/jan/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// env is a running jan server in front of a fake engine.
type env struct {
	t          testing.TB
	engineHook func(*http.Request) // sees each engine request, when set
	// engineConns counts the connections the engine has accepted.
	engineConns *atomic.Int64
	srv         *Server
	http        *httptest.Server
	engine      *fakeengine.Engine
	store       store.Store
	URL         string
	logs        *syncBuffer          // the server's log
	keycloak    *keycloaktest.Server // the Keycloak double, in Keycloak mode
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type envOptions struct {
	engine    fakeengine.Options
	postgres  bool
	keepalive time.Duration
	timeout   time.Duration // upstream header timeout
	upstream  string        // override the engine URL (e.g. a closed port)
	otlp      string        // an OTLP collector's URL: spans are exported there
	dsn       string        // database URL; default a fresh SQLite file (or Postgres with postgres)
	limits    *RateLimits   // nil: no rate limiting
	keycloak  bool          // identity from a Keycloak double instead of the embedded issuer
	gateway   string        // gateway secret
	bodies    BodyLimits    // request body limits (zero: the defaults)
	durable   Durability    // checkpoints and final-write retries (zero: the defaults)
	providers string        // more providers.yaml entries (under providers:)
	keyPEM    []byte        // the data dir's signing-key.pem (default the shared test key)
	publicURL string        // JAN_PUBLIC_URL (replicas behind one address share it)
}

const testModel = "fake-model"

// testAppRedirect is on the browser sign-in's allow-list in Keycloak mode.
const testAppRedirect = "https://app.example.com/after-login"

// newEnv starts jan (SQLite, or Postgres when asked) wired to a fake engine,
// built by Build from settings given as environment variables, as
// production is.
func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.engine.Models == nil {
		o.engine.Models = []string{"served/fake-model"}
	}
	engine := fakeengine.New(o.engine)
	var e *env
	var engineConns atomic.Int64
	eng := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e != nil && e.engineHook != nil {
			e.engineHook(r)
		}
		engine.ServeHTTP(w, r)
	}))
	eng.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			engineConns.Add(1)
		}
	}
	eng.Start()
	t.Cleanup(eng.Close)

	dir := t.TempDir()
	// The shared test key: making one per server is slow under -race.
	keyPEM := o.keyPEM
	if keyPEM == nil {
		keyPEM = testKeyPEM(t)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing-key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	base := eng.URL
	if o.upstream != "" {
		base = o.upstream
	}
	providers := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(providers, []byte(`providers:
  - name: fake
    kind: openai
    base_url: `+base+`
    models:
      - id: `+testModel+`
        served_name: served/fake-model
        capabilities: [chat, completions]
`+o.providers+`
routing:
  default_provider: fake
`), 0o600); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil) // the issuer needs its URL before the server starts
	settings := map[string]string{
		"JAN_ADDR": hs.Listener.Addr().String(), "JAN_DATA_DIR": dir, "JAN_DB": "sqlite:" + filepath.Join(dir, "jan.db"),
		"JAN_PROVIDERS": providers, "JAN_NO_DETECT": "true", "JAN_ADMINS": "root", "JAN_GATEWAY_SECRET": o.gateway,
		"JAN_UPSTREAM_TIMEOUT": "10s",
	}
	if o.postgres {
		settings["JAN_DB"] = pgtest.URL(t)
	}
	if o.publicURL != "" {
		settings["JAN_PUBLIC_URL"] = o.publicURL
	}
	if o.dsn != "" {
		settings["JAN_DB"] = o.dsn
	}
	if o.timeout > 0 {
		settings["JAN_UPSTREAM_TIMEOUT"] = o.timeout.String()
	}
	limitSettings(settings, o.limits)
	for key, d := range map[string]time.Duration{"JAN_BODY_TIMEOUT": o.bodies.Timeout, "JAN_BODY_GRACE": o.bodies.Grace,
		"JAN_RUN_CHECKPOINT": o.durable.Checkpoint, "JAN_RUN_STALE_AFTER": o.durable.StaleAfter, "JAN_FINAL_WRITE_RETRY": o.durable.FinalWriteRetry} {
		if d > 0 {
			settings[key] = d.String()
		}
	}
	for key, n := range map[string]int64{"JAN_MAX_BODY_BYTES": o.bodies.Max, "JAN_BODY_MIN_RATE": o.bodies.MinRate, "JAN_BODY_BUFFER_BYTES": o.bodies.Buffer} {
		if n > 0 {
			settings[key] = strconv.FormatInt(n, 10)
		}
	}
	if o.otlp != "" {
		settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = o.otlp
	}
	var kc *keycloaktest.Server
	if o.keycloak {
		kc = keycloaktest.New(t, keycloaktest.Options{PublicURL: "http://" + hs.Listener.Addr().String()})
		settings["JAN_LOGIN_REDIRECT_URLS"] = testAppRedirect + ",https://app.example.com/pages/*"
		c := kc.Config()
		for k, v := range map[string]string{"KEYCLOAK_BASE_URL": c.BaseURL, "KEYCLOAK_REALM": c.Realm, "BACKEND_CLIENT_ID": c.BackendClientID,
			"BACKEND_CLIENT_SECRET": c.BackendClientSecret, "TARGET_CLIENT_ID": c.TargetClientID, "GUEST_ROLE": c.GuestRole} {
			settings[k] = v
		}
	}
	cfg, err := config.Load(nil, func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, cleanup, err := Build(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if o.keepalive > 0 {
		srv.keepalive = o.keepalive
	}
	// Every response of the server tests is checked against the OpenAPI
	// document; a mismatch fails the test that produced it, once its
	// server has finished (registered before hs.Close, so it runs after).
	var mismatches []string
	var mismatchMu sync.Mutex
	t.Cleanup(func() {
		mismatchMu.Lock()
		defer mismatchMu.Unlock()
		for _, m := range mismatches {
			t.Error(m)
		}
	})
	hs.Config.Handler = validatingHandler(srv, func(m string) {
		mismatchMu.Lock()
		mismatches = append(mismatches, m)
		mismatchMu.Unlock()
	})
	if _, bench := t.(*testing.B); bench {
		hs.Config.Handler = srv // a benchmark measures the server, not the document's validator
	}
	hs.Config.MaxHeaderBytes = cfg.MaxHeaderBytes
	hs.Listener = Listener(hs.Listener)
	hs.Start()
	t.Cleanup(hs.Close)
	watch, stopWatch := context.WithCancel(context.Background())
	t.Cleanup(stopWatch)
	go srv.watchCancels(watch, srv.store) // cancels requested through other replicas (the store read here: tests may swap it)
	e = &env{t: t, srv: srv, http: hs, engine: engine, engineConns: &engineConns, store: srv.store, URL: hs.URL, logs: logs, keycloak: kc}
	return e
}

// limitSettings sets the rate limit variables for l: nil turns every limit
// off (most tests make many guests and requests).
func limitSettings(settings map[string]string, l *RateLimits) {
	role := func(r RateLimit) string {
		if r == (RateLimit{}) {
			return "off"
		}
		return fmt.Sprintf("%d:%d:%d", r.PerMinute, r.Burst, r.Streams)
	}
	if l == nil {
		l = &RateLimits{}
	}
	settings["JAN_RATE_LIMIT_GUEST"], settings["JAN_RATE_LIMIT_USER"], settings["JAN_RATE_LIMIT_ADMIN"] = role(l.Guest), role(l.User), role(l.Admin)
	settings["JAN_RATE_LIMIT_AUTH"] = "off"
	if l.Address.PerMinute > 0 {
		settings["JAN_RATE_LIMIT_AUTH"] = fmt.Sprintf("%d:%d", l.Address.PerMinute, l.Address.Burst)
	}
}

// flushTraces exports the spans the server has made so far.
func flushTraces(t testing.TB) {
	t.Helper()
	if tp, ok := otel.GetTracerProvider().(interface{ ForceFlush(context.Context) error }); ok {
		if err := tp.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// guest returns a fresh guest's access token.
func (e *env) guest() string {
	e.t.Helper()
	res := e.do("POST", "/auth/guest", "", nil, nil)
	if res.status != http.StatusCreated {
		e.t.Fatalf("guest: %d %s", res.status, res.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	res.decode(e.t, &tok)
	return tok.AccessToken
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode returns error.code of an error envelope, failing the test when
// the envelope is malformed.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	var env struct {
		Error *struct {
			Type      string  `json:"type"`
			Code      *string `json:"code"`
			Message   string  `json:"message"`
			Param     *string `json:"param"`
			RequestID string  `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || env.Error == nil {
		t.Fatalf("not an error envelope (%d): %s", r.status, r.body)
	}
	raw := map[string]map[string]json.RawMessage{}
	_ = json.Unmarshal(r.body, &raw)
	for _, k := range []string{"type", "code", "message", "param", "request_id"} {
		if _, ok := raw["error"][k]; !ok {
			t.Fatalf("error envelope lacks %q: %s", k, r.body)
		}
	}
	if env.Error.Message == "" || env.Error.Type == "" || env.Error.RequestID == "" {
		t.Fatalf("error envelope incomplete: %s", r.body)
	}
	if env.Error.Code == nil {
		return ""
	}
	return *env.Error.Code
}

func (r response) param(t testing.TB) string {
	var env struct {
		Error struct {
			Param *string `json:"param"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &env)
	if env.Error.Param == nil {
		return ""
	}
	return *env.Error.Param
}

// do sends a request; body may be a string, []byte or a value to marshal.
func (e *env) do(method, path, token string, body any, header map[string]string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// sseEvents splits an SSE body into its data payloads.
func sseEvents(t testing.TB, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// newConversation creates a conversation with one user message.
func (e *env) newConversation(token, prompt string) string {
	e.t.Helper()
	res := e.do("POST", "/v1/conversations", token, map[string]any{"title": "t"}, nil)
	if res.status != http.StatusCreated {
		e.t.Fatalf("create conversation: %d %s", res.status, res.body)
	}
	var c struct{ ID string }
	res.decode(e.t, &c)
	if prompt != "" {
		res = e.do("POST", "/v1/conversations/"+c.ID+"/messages", token, map[string]any{"role": "user", "content": prompt}, nil)
		if res.status != http.StatusCreated {
			e.t.Fatalf("add message: %d %s", res.status, res.body)
		}
	}
	return c.ID
}

// messages returns the conversation's stored messages, oldest first.
func (e *env) messages(token, conv string) []messageJSON {
	e.t.Helper()
	res := e.do("GET", "/v1/conversations/"+conv+"/messages?limit=100", token, nil, nil)
	if res.status != http.StatusOK {
		e.t.Fatalf("list messages: %d %s", res.status, res.body)
	}
	var l struct{ Data []messageJSON }
	res.decode(e.t, &l)
	return l.Data
}

// testKey is one RSA key for every embedded issuer in these tests (making
// one is slow under -race); tests sign forged tokens with it.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func testKeyPEM(t testing.TB) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
