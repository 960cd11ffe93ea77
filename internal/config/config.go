// Package config owns jan's one Config struct and where its values come from:
// flags > environment > .env file > defaults. It resolves the data dir and
// the database URL; it never opens anything.
package config

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is everything the server needs to start.
type Config struct {
	Addr            string        // listen address, host:port
	ExtraAddrs      []string      // more listen addresses (jan up adds the Docker bridge's, so Kong reaches the server)
	PublicURL       string        // base URL clients use; the embedded issuer's URL
	DB              string        // "sqlite:PATH" or "postgres://…"
	Providers       string        // providers.yaml path; "" = none
	Engines         []string      // extra OpenAI-compatible base URLs
	NoDetect        bool          // skip local engine auto-detection
	DataDir         string        // state: SQLite db, signing key, …
	Issuer          string        // external OIDC issuer; "" = embedded
	Audience        string        // expected token audience ("" with an external issuer skips the check)
	UsernameClaim   string        // the external issuer's claim read as the username; "" preferred_username (JAN_OIDC_USERNAME_CLAIM)
	NoGuests        bool          // with an external issuer: no guests from jan's own issuer beside it (--guests=off, JAN_GUESTS)
	OIDCClient      OIDCClient    // jan's client at the external issuer, for the browser sign-in; "" ID = none
	AutoMigrate     bool          // apply migrations at start
	BodyLimit       int64         // max request body bytes
	BodyTimeout     time.Duration // a request body must arrive within it (JAN_BODY_TIMEOUT)
	BodyMinRate     int64         // bytes/s a body must average after BodyGrace (JAN_BODY_MIN_RATE)
	BodyGrace       time.Duration // how long a body may take before its rate counts (JAN_BODY_GRACE)
	BodyBuffer      int64         // request body bytes held at once, all requests together (JAN_BODY_BUFFER_BYTES)
	MaxHeaderBytes  int           // request header bytes (JAN_MAX_HEADER_BYTES)
	HeaderTimeout   time.Duration // a request's headers must arrive within it (JAN_HEADER_TIMEOUT)
	PasswordHashes  int           // argon2 hashes at once; 0 = one per CPU (JAN_PASSWORD_HASHES)
	ListBytes       int           // a list page ends early past this many bytes of items (JAN_MAX_LIST_BYTES)
	GuestRetention  time.Duration // guests inactive this long are purged with their data; 0 = never (JAN_GUEST_RETENTION_DAYS)
	RunCheckpoint   time.Duration // how often a streaming run's answer so far is saved (JAN_RUN_CHECKPOINT)
	RunStaleAfter   time.Duration // a run silent this long is taken for an orphan of a dead process (JAN_RUN_STALE_AFTER)
	FinalWriteRetry time.Duration // how long the final write of an answer is retried while the database is down (JAN_FINAL_WRITE_RETRY)
	UpstreamTimeout time.Duration // wait for an engine's response headers
	ShutdownGrace   time.Duration // how long in-flight streams may finish on shutdown
	KeyRotation     time.Duration // the embedded issuer's signing key is replaced when this old; 0 = never (JAN_KEY_ROTATION)
	DrainDelay      time.Duration // on shutdown, keep serving at least this long with /readyz 503, so load balancers stop sending first (JAN_DRAIN_DELAY)
	MetricsAddr     string        // serve /metrics on this address instead of Addr (--metrics-addr, JAN_METRICS_ADDR)
	MetricsToken    string        // bearer token /metrics requires (JAN_METRICS_TOKEN); needed on a non-loopback Addr unless MetricsAddr is set
	LogLevel        string        // debug|info|warn|error
	LogFormat       string        // json|text ("" = json unless stderr is a terminal)
	Keycloak        Keycloak      // Keycloak identity mode, when Keycloak.BaseURL is set
	Telemetry       Telemetry     // OpenTelemetry export
	IdentityWait    time.Duration // how long to wait for the identity provider at start
	Admins          []string      // JAN_ADMINS: usernames with the admin role (embedded mode)
	// LoginRedirects are where the browser sign-in may send a browser back
	// to (JAN_LOGIN_REDIRECT_URLS: exact URLs, or prefixes ending in *);
	// loopback http URLs (native apps, jan login --web) always may.
	LoginRedirects []string
	GatewaySecret  string // trusted gateway's shared secret (JAN_GATEWAY_SECRET); "" = trust no gateway
	// Rate limits per role as PER_MINUTE:BURST:STREAMS or "off"; "" = the default.
	RateLimitGuest, RateLimitUser, RateLimitAdmin string
	// RateLimitAuth limits /auth writes per client address, PER_MINUTE:BURST or "off"; "" = the default.
	RateLimitAuth string
	// Lookup is the environment Load read (over the .env file), for the
	// ${VAR} references of providers.yaml.
	Lookup Env
}

// OIDCClient is jan's OAuth client at an external issuer (--issuer): with
// it, jan login --web signs in there and jan refreshes those tokens.
type OIDCClient struct {
	ID     string   // --client-id, JAN_OIDC_CLIENT_ID
	Secret string   // JAN_OIDC_CLIENT_SECRET; "" for a public client (PKCE alone)
	Scopes []string // JAN_OIDC_SCOPES (space- or comma-separated); nil = openid profile email
}

// Keycloak is Keycloak identity mode, on when BaseURL is set; the seed's
// variables. Empty optional fields get Keycloak's defaults (realm "jan",
// clients "backend" and "llm-api", role "guest").
type Keycloak struct {
	BaseURL             string // KEYCLOAK_BASE_URL
	Realm               string // KEYCLOAK_REALM
	BackendClientID     string // BACKEND_CLIENT_ID
	BackendClientSecret string // BACKEND_CLIENT_SECRET
	TargetClientID      string // TARGET_CLIENT_ID
	GuestRole           string // GUEST_ROLE
	GuestGrant          string // KEYCLOAK_GUEST_GRANT: token-exchange or password
}

// Telemetry is where traces go, from OpenTelemetry's own variables; unset,
// tracing is off and free.
type Telemetry struct {
	Endpoint        string // OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL (/v1/traces and /v1/metrics are added)
	TracesEndpoint  string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full traces URL, over Endpoint
	MetricsEndpoint string // OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: the full metrics URL, over Endpoint
	Headers         string // OTEL_EXPORTER_OTLP_HEADERS: k=v,k=v sent with every export
	ServiceName     string // OTEL_SERVICE_NAME (default jan-llm-api)
}

// Enabled reports whether an OTLP endpoint for traces is configured.
func (t Telemetry) Enabled() bool { return t.Endpoint != "" || t.TracesEndpoint != "" }

// MetricsEnabled reports whether an OTLP endpoint for metrics is configured.
func (t Telemetry) MetricsEnabled() bool { return t.Endpoint != "" || t.MetricsEndpoint != "" }

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		AutoMigrate:     true,
		BodyLimit:       4 << 20,
		BodyTimeout:     60 * time.Second,
		BodyMinRate:     4096,
		BodyGrace:       5 * time.Second,
		BodyBuffer:      128 << 20,
		MaxHeaderBytes:  64 << 10,
		HeaderTimeout:   10 * time.Second,
		ListBytes:       1 << 20,
		GuestRetention:  30 * 24 * time.Hour,
		RunCheckpoint:   time.Second,
		RunStaleAfter:   time.Minute,
		FinalWriteRetry: 30 * time.Second,
		UpstreamTimeout: 120 * time.Second,
		ShutdownGrace:   10 * time.Second,
		KeyRotation:     30 * 24 * time.Hour,
		IdentityWait:    60 * time.Second,
		LogLevel:        "info",
		Audience:        "jan",
	}
}

// Env is where environment values come from (os.Getenv in production).
type Env func(string) string

// Over returns an Env that reads e, and under it, for a key e leaves empty,
// values (jan up's stack settings: what the user sets wins).
func Over(e Env, values map[string]string) Env {
	if e == nil {
		e = os.Getenv
	}
	return func(k string) string {
		if v := e(k); v != "" {
			return v
		}
		return values[k]
	}
}

// RegisterServeFlags adds the server flags of the command-line contract.
func RegisterServeFlags(fs *pflag.FlagSet) {
	d := Defaults()
	fs.String("addr", d.Addr, "listen address `host:port` (JAN_ADDR)")
	fs.String("db", "", "database: a file path or `sqlite:PATH` for SQLite, postgres://… for Postgres (JAN_DB, DATABASE_URL; default SQLite in the data dir)")
	fs.String("providers", "", "providers.yaml `file` listing OpenAI-compatible providers and models (JAN_PROVIDERS)")
	fs.StringSlice("engine", nil, "OpenAI-compatible engine base `URL` whose /v1/models are served; repeatable or comma-separated (JAN_ENGINE_URL)")
	fs.Bool("no-detect", false, "skip auto-detection of local engines (Ollama, LM Studio, Jan, vLLM)")
	fs.String("data-dir", "", "directory for jan's state (JAN_DATA_DIR; default $XDG_DATA_HOME/jan)")
	fs.String("issuer", "", "external OIDC issuer `URL` to trust instead of the embedded one (JAN_OIDC_ISSUER)")
	fs.String("guests", "", "with --issuer: `on` (guests from jan's own issuer beside the provider's accounts; the default) or off (JAN_GUESTS)")
	fs.String("client-id", "", "with --issuer: jan's OAuth client `id` there, for jan login --web; register <public URL>/auth/callback as its redirect URI (JAN_OIDC_CLIENT_ID; a confidential client's secret in JAN_OIDC_CLIENT_SECRET)")
	fs.String("metrics-addr", "", "serve /metrics on this `host:port` instead of --addr (JAN_METRICS_ADDR)")
}

// Load resolves the configuration from flags (only those set), env, the .env
// file in the working directory, and defaults.
func Load(fs *pflag.FlagSet, getenv Env) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	dotenv, err := readDotEnv(".env")
	if err != nil {
		return Config{}, err
	}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dotenv[k]
	}

	c := Defaults()
	str := func(dst *string, flag string, keys ...string) {
		if fs != nil {
			if f := fs.Lookup(flag); f != nil && f.Changed {
				*dst = f.Value.String()
				return
			}
		}
		for _, k := range keys {
			if v := env(k); v != "" {
				*dst = v
				return
			}
		}
	}
	str(&c.Addr, "addr", "JAN_ADDR")
	str(&c.DB, "db", "JAN_DB", "DATABASE_URL")
	str(&c.Providers, "providers", "JAN_PROVIDERS")
	str(&c.DataDir, "data-dir", "JAN_DATA_DIR")
	str(&c.Issuer, "issuer", "JAN_OIDC_ISSUER")
	str(&c.PublicURL, "", "JAN_PUBLIC_URL")
	str(&c.LogLevel, "", "LOG_LEVEL")
	str(&c.LogFormat, "", "LOG_FORMAT")
	str(&c.GatewaySecret, "", "JAN_GATEWAY_SECRET")
	str(&c.MetricsAddr, "metrics-addr", "JAN_METRICS_ADDR")
	kc := &c.Keycloak
	for dst, key := range map[*string]string{&kc.BaseURL: "KEYCLOAK_BASE_URL", &kc.Realm: "KEYCLOAK_REALM",
		&kc.BackendClientID: "BACKEND_CLIENT_ID", &kc.BackendClientSecret: "BACKEND_CLIENT_SECRET",
		&kc.TargetClientID: "TARGET_CLIENT_ID", &kc.GuestRole: "GUEST_ROLE", &kc.GuestGrant: "KEYCLOAK_GUEST_GRANT",
		&c.Telemetry.Endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT", &c.Telemetry.TracesEndpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		&c.Telemetry.MetricsEndpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &c.MetricsToken: "JAN_METRICS_TOKEN",
		&c.Telemetry.Headers: "OTEL_EXPORTER_OTLP_HEADERS", &c.Telemetry.ServiceName: "OTEL_SERVICE_NAME"} {
		str(dst, "", key)
	}
	c.Lookup = env
	c.Admins = splitList(env("JAN_ADMINS"))
	c.ExtraAddrs = splitList(env("JAN_EXTRA_ADDRS"))
	c.LoginRedirects = splitList(env("JAN_LOGIN_REDIRECT_URLS"))
	str(&c.RateLimitGuest, "", "JAN_RATE_LIMIT_GUEST")
	str(&c.RateLimitUser, "", "JAN_RATE_LIMIT_USER")
	str(&c.RateLimitAdmin, "", "JAN_RATE_LIMIT_ADMIN")
	str(&c.RateLimitAuth, "", "JAN_RATE_LIMIT_AUTH")
	if c.Issuer != "" {
		c.Audience = ""
	}
	str(&c.Audience, "", "JAN_OIDC_AUDIENCE")
	str(&c.UsernameClaim, "", "JAN_OIDC_USERNAME_CLAIM")
	str(&c.OIDCClient.ID, "client-id", "JAN_OIDC_CLIENT_ID")
	str(&c.OIDCClient.Secret, "", "JAN_OIDC_CLIENT_SECRET")
	c.OIDCClient.Scopes = strings.FieldsFunc(env("JAN_OIDC_SCOPES"), func(r rune) bool { return r == ',' || r == ' ' })
	switch {
	case c.OIDCClient.ID != "" && c.Issuer == "":
		return Config{}, fmt.Errorf("--client-id (JAN_OIDC_CLIENT_ID) is jan's client at an external issuer: give --issuer too")
	case c.OIDCClient.ID == "" && (c.OIDCClient.Secret != "" || len(c.OIDCClient.Scopes) > 0):
		return Config{}, fmt.Errorf("JAN_OIDC_CLIENT_SECRET and JAN_OIDC_SCOPES configure jan's client at the issuer: give its id too (--client-id, JAN_OIDC_CLIENT_ID)")
	case len(c.OIDCClient.Scopes) > 0 && !slices.Contains(c.OIDCClient.Scopes, "openid"):
		return Config{}, fmt.Errorf("JAN_OIDC_SCOPES=%q: the sign-in is OpenID Connect, so the scopes must include openid", env("JAN_OIDC_SCOPES"))
	}

	if fs != nil {
		if f := fs.Lookup("engine"); f != nil && f.Changed {
			c.Engines, _ = fs.GetStringSlice("engine")
		}
		if f := fs.Lookup("no-detect"); f != nil && f.Changed {
			c.NoDetect, _ = fs.GetBool("no-detect")
		}
	}
	if c.Engines == nil {
		c.Engines = splitList(env("JAN_ENGINE_URL"))
	}
	if !c.NoDetect {
		if v := env("JAN_NO_DETECT"); v != "" {
			if c.NoDetect, err = strconv.ParseBool(v); err != nil {
				return Config{}, fmt.Errorf("JAN_NO_DETECT=%q: want true or false", v)
			}
		}
	}
	if v := env("AUTO_MIGRATE"); v != "" {
		if c.AutoMigrate, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("AUTO_MIGRATE=%q: want true or false", v)
		}
	}
	for _, n := range []struct {
		key string
		dst *int64
	}{{"JAN_MAX_BODY_BYTES", &c.BodyLimit}, {"JAN_BODY_MIN_RATE", &c.BodyMinRate}, {"JAN_BODY_BUFFER_BYTES", &c.BodyBuffer}} {
		if err := positiveInt(env, n.key, n.dst); err != nil {
			return Config{}, err
		}
	}
	for _, n := range []struct {
		key string
		dst *int
	}{{"JAN_MAX_HEADER_BYTES", &c.MaxHeaderBytes}, {"JAN_PASSWORD_HASHES", &c.PasswordHashes}, {"JAN_MAX_LIST_BYTES", &c.ListBytes}} {
		v := int64(*n.dst)
		if err := positiveInt(env, n.key, &v); err != nil {
			return Config{}, err
		}
		*n.dst = int(v)
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"JAN_UPSTREAM_TIMEOUT", &c.UpstreamTimeout}, {"JAN_BODY_TIMEOUT", &c.BodyTimeout}, {"JAN_BODY_GRACE", &c.BodyGrace}, {"JAN_HEADER_TIMEOUT", &c.HeaderTimeout},
		{"JAN_RUN_CHECKPOINT", &c.RunCheckpoint}, {"JAN_RUN_STALE_AFTER", &c.RunStaleAfter}, {"JAN_FINAL_WRITE_RETRY", &c.FinalWriteRetry}} {
		if err := positiveDuration(env, d.key, d.dst); err != nil {
			return Config{}, err
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"JAN_SHUTDOWN_GRACE", &c.ShutdownGrace}, {"JAN_DRAIN_DELAY", &c.DrainDelay}, {"JAN_KEY_ROTATION", &c.KeyRotation}} {
		if v := env(d.key); v != "" {
			if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < 0 {
				return Config{}, fmt.Errorf("%s=%q: want a duration such as 10s", d.key, v)
			}
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return Config{}, fmt.Errorf("--metrics-addr %q: want host:port, e.g. 127.0.0.1:9090", c.MetricsAddr)
		}
	}

	var guests string
	str(&guests, "guests", "JAN_GUESTS")
	switch strings.ToLower(guests) {
	case "", "on", "true":
	case "off", "false":
		c.NoGuests = true
	default:
		return Config{}, fmt.Errorf("--guests=%s (JAN_GUESTS): want on or off", guests)
	}

	if v := env("JAN_GUEST_RETENTION_DAYS"); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 0 {
			return Config{}, fmt.Errorf("JAN_GUEST_RETENTION_DAYS=%q: want a number of days (0 keeps guests forever)", v)
		}
		c.GuestRetention = time.Duration(days) * 24 * time.Hour
	}

	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return Config{}, fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", c.Addr)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir(getenv)
	}
	if c.DB == "" {
		c.DB = "sqlite:" + filepath.Join(c.DataDir, "jan.db")
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + Dialable(c.Addr)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Config{}, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		return Config{}, fmt.Errorf("LOG_FORMAT=%q: want json or text", c.LogFormat)
	}
	return c, nil
}

// positiveInt reads a whole number > 0 from env key into dst, if set.
func positiveInt(env Env, key string, dst *int64) error {
	v := env(key)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%s=%q: want a positive whole number", key, v)
	}
	*dst = n
	return nil
}

// positiveDuration reads a duration > 0 from env key into dst, if set.
func positiveDuration(env Env, key string, dst *time.Duration) error {
	v := env(key)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s=%q: want a duration such as 60s", key, v)
	}
	*dst = d
	return nil
}

// DefaultDataDir is $XDG_DATA_HOME/jan, else ~/.local/share/jan.
func DefaultDataDir(getenv Env) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jan")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "jan")
	}
	return filepath.Join(home, ".local", "share", "jan")
}

// dialable turns a listen address into one a client can dial: an unspecified
// host (0.0.0.0, ::, "") becomes 127.0.0.1.
// Dialable turns a listen address into one to connect to: an empty or
// unspecified host (":8080", "0.0.0.0:8080") becomes 127.0.0.1.
func Dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readDotEnv parses KEY=VALUE lines (optionally quoted, # comments, optional
// "export "); a missing file is not an error.
func readDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: line %d: want KEY=VALUE", path, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		vals[k] = v
	}
	return vals, sc.Err()
}

// Environ is the process environment over the .env file of the working
// directory, as one map: what jan up interpolates compose.yaml with.
func Environ() (map[string]string, error) {
	env, err := readDotEnv(".env")
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = map[string]string{}
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" {
			env[k] = v
		}
	}
	return env, nil
}

// IsLoopback reports whether a listen address reaches only this machine:
// a loopback IP or localhost (":8080" and 0.0.0.0 listen everywhere).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
