package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/auth/keycloak"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// Run wires a server from cfg (store, providers, detected engines, identity,
// telemetry), serves until ctx ends, then shuts down gracefully: new
// connections stop, in-flight requests get cfg.ShutdownGrace to finish, and
// streams still running after that end with an error event, keeping their
// partial answers. Human-readable progress goes to out; logs to log.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	if err := privateDir(cfg.DataDir, log); err != nil {
		return fmt.Errorf("data dir %s: %w (set --data-dir or JAN_DATA_DIR)", cfg.DataDir, err)
	}

	// Listen first: a taken port is the most common start-up failure and
	// should be reported before any slower work.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %s is already in use (address %s): stop what uses it or choose another with --addr or JAN_ADDR", portOf(cfg.Addr), cfg.Addr)
		}
		return fmt.Errorf("listen on %s: %w (choose another address with --addr or JAN_ADDR)", cfg.Addr, err)
	}
	defer ln.Close()
	extra := make([]net.Listener, 0, len(cfg.ExtraAddrs))
	for _, addr := range cfg.ExtraAddrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		defer l.Close()
		extra = append(extra, l)
	}

	fmt.Fprintf(out, "Opening the database (%s)…\n", describeDB(cfg.DB))
	st, err := store.Open(ctx, cfg.DB, store.Options{AutoMigrate: cfg.AutoMigrate, Logger: log})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()

	registry, err := loadRegistry(ctx, cfg, out)
	if err != nil {
		return err
	}
	if err := st.UpsertModels(ctx, storeModels(registry.Models())); err != nil {
		return fmt.Errorf("record models: %w", err)
	}

	identity, issuer, err := identityFor(ctx, cfg, st, log, out)
	if err != nil {
		return err
	}

	limits, err := rateLimits(cfg)
	if err != nil {
		return err
	}
	tracer, stopTracing, err := setupTracing(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	defer stopTracing()

	var transport http.RoundTripper = inference.NewTransport()
	if cfg.Telemetry.Enabled() {
		transport = propagating{transport}
	}
	srv := New(Options{
		Store: st, Registry: registry, Identity: identity, Issuer: issuer, Logger: log, Tracer: tracer,
		Bodies:        BodyLimits{Max: cfg.BodyLimit, Timeout: cfg.BodyTimeout, MinRate: cfg.BodyMinRate, Buffer: cfg.BodyBuffer},
		Upstream:      inference.NewClient(inference.ClientOptions{HeaderTimeout: cfg.UpstreamTimeout, Transport: transport}),
		ProviderCheck: providerCheck(registry),
		RateLimits:    &limits,
		GatewaySecret: cfg.GatewaySecret,
		ListBytes:     cfg.ListBytes,
		Durability: Durability{Instance: instanceName(ln), Checkpoint: cfg.RunCheckpoint, StaleAfter: cfg.RunStaleAfter,
			FinalWriteRetry: cfg.FinalWriteRetry},
	})
	// This process holds the listen address now, so runs an earlier
	// process under the same name left in progress are orphans.
	if n, err := srv.RecoverRuns(ctx, true); err != nil {
		log.Warn("recover runs left by a stopped server", "err", err)
	} else if n > 0 {
		fmt.Fprintf(out, "Finished %d run(s) a stopped server left in progress, keeping their answers so far.\n", n)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: cfg.HeaderTimeout, IdleTimeout: 120 * time.Second, MaxHeaderBytes: cfg.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1+len(extra))
	go func() { served <- hs.Serve(Listener(ln)) }()
	for _, l := range extra {
		go func() { served <- hs.Serve(Listener(l)) }()
	}
	go housekeeping(ctx, st, cfg.GuestRetention, log)
	go srv.SweepRuns(ctx)
	banner(out, cfg, ln.Addr().String(), registry)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "\nShutting down: finishing in-flight requests (Ctrl+C again to force)…")
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(graceCtx); err != nil {
		// Streams still running: end them with an error event; their partial
		// answers are saved before the handlers return.
		srv.Stop()
		endCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(endCtx); err != nil {
			hs.Close()
		}
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}

// instanceName names this process for the runs it owns: host and listen
// address. Only one process at a time can listen there, so a process that
// starts under the same name knows the runs left under it are orphans.
func instanceName(ln net.Listener) string {
	host, _ := os.Hostname()
	return host + "/" + ln.Addr().String()
}

// privateDir creates the data dir (0700) or, when it exists with access for
// others, takes that away: it holds the signing key and the database.
func privateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
		log.Info("data dir was open to other users; it is now 0700", "dir", dir, "was", fmt.Sprintf("%04o", perm))
	}
	return nil
}

// identityFor picks the identity mode: Keycloak when KEYCLOAK_BASE_URL is
// set, an external issuer jan only verifies with --issuer, else the
// embedded issuer (whose documents jan also serves).
func identityFor(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, out io.Writer) (auth.IdentityProvider, *auth.Issuer, error) {
	switch {
	case cfg.Keycloak.BaseURL != "":
		k := cfg.Keycloak
		kc := keycloak.Config{BaseURL: k.BaseURL, Realm: k.Realm, BackendClientID: k.BackendClientID, BackendClientSecret: k.BackendClientSecret,
			TargetClientID: k.TargetClientID, GuestRole: k.GuestRole, GuestGrant: k.GuestGrant}
		if err := kc.Check(); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(out, "Connecting to Keycloak at %s…\n", k.BaseURL)
		deadline := time.Now().Add(cfg.IdentityWait)
		for {
			p, err := keycloak.New(ctx, kc)
			if err == nil {
				return p, nil, nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, nil, fmt.Errorf("keycloak: %w", err)
			}
			select { // Keycloak may still be starting
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	case cfg.Issuer != "":
		v, err := auth.NewOIDCVerifier(ctx, nil, cfg.Issuer, cfg.Audience)
		if err != nil {
			return nil, nil, fmt.Errorf("identity provider %s: %w (check --issuer / JAN_OIDC_ISSUER)", cfg.Issuer, err)
		}
		return auth.External{Issuer: cfg.Issuer, V: v}, nil, nil
	}
	issuer, err := auth.NewIssuer(auth.IssuerOptions{URL: cfg.PublicURL, KeyFile: filepath.Join(cfg.DataDir, "signing-key.pem"),
		Audience: cfg.Audience, Admins: cfg.Admins, PasswordHashes: cfg.PasswordHashes, Logger: log}, st)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded identity: %w", err)
	}
	return issuer, issuer, nil
}

// rateLimits applies the configured per-role limits over the defaults.
func rateLimits(cfg config.Config) (RateLimits, error) {
	l := DefaultRateLimits()
	for _, c := range []struct {
		env, val string
		dst      *RateLimit
	}{{"JAN_RATE_LIMIT_GUEST", cfg.RateLimitGuest, &l.Guest}, {"JAN_RATE_LIMIT_USER", cfg.RateLimitUser, &l.User}, {"JAN_RATE_LIMIT_ADMIN", cfg.RateLimitAdmin, &l.Admin}} {
		if c.val == "" {
			continue
		}
		v, err := ParseRateLimit(c.val)
		if err != nil {
			return l, fmt.Errorf("%s: %w", c.env, err)
		}
		*c.dst = v
	}
	if cfg.RateLimitAuth != "" {
		v, err := ParseAddressLimit(cfg.RateLimitAuth)
		if err != nil {
			return l, fmt.Errorf("JAN_RATE_LIMIT_AUTH: %w", err)
		}
		l.Address = v
	}
	return l, nil
}

// housekeeping runs housekeep a minute after start and then hourly.
func housekeeping(ctx context.Context, st store.Store, guestRetention time.Duration, log *slog.Logger) {
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = time.Hour
		housekeep(ctx, st, guestRetention, log)
	}
}

// housekeep deletes expired idempotency records (the table holds about a
// day of keys) and, when guestRetention > 0, guests that have not signed in
// or refreshed for that long, with their data.
func housekeep(ctx context.Context, st store.Store, guestRetention time.Duration, log *slog.Logger) {
	if n, err := st.PurgeIdempotency(ctx); err != nil {
		log.Warn("purge idempotency records", "err", err)
	} else {
		log.Debug("purged idempotency records", "deleted", n)
	}
	if guestRetention <= 0 {
		return
	}
	if n, err := st.PurgeGuests(ctx, time.Now().Add(-guestRetention)); err != nil {
		log.Warn("purge inactive guests", "err", err)
	} else if n > 0 {
		log.Info("purged inactive guests with their conversations", "deleted", n, "inactive_for", guestRetention)
	}
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return port
}

// describeDB names the database without its password.
func describeDB(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "postgres://…@" + dsn[i+1:]
		}
		return dsn
	}
	return "SQLite " + strings.TrimPrefix(dsn, "sqlite:")
}

// loadRegistry builds the model registry: providers.yaml, then --engine
// URLs, then local engines found by auto-detection.
func loadRegistry(ctx context.Context, cfg config.Config, out io.Writer) (*inference.Registry, error) {
	pcfg := &inference.Config{}
	path := cfg.Providers
	if path == "" {
		if p := filepath.Join(cfg.DataDir, "providers.yaml"); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		var err error
		if pcfg, err = inference.LoadProviders(path, cfg.Lookup); err != nil {
			return nil, err
		}
	}
	registry := inference.NewRegistry(pcfg)
	for _, u := range cfg.Engines {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		p, err := inference.ProbeEngine(pctx, "", u, nil)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "  ! engine %s: %v\n", u, err)
			continue
		}
		registry.Add(p)
	}
	if !cfg.NoDetect {
		fmt.Fprintln(out, "Looking for local engines (Ollama, LM Studio, Jan, vLLM)…")
		// jan itself is never detected: its /v1/models needs a token.
		for _, p := range inference.Detect(ctx, inference.LocalCandidates, 400*time.Millisecond) {
			registry.Add(p)
		}
	}
	return registry, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// providerCheck reports, for /readyz, whether at least one provider answers
// its /v1/models. Results are cached for a few seconds so probes stay cheap.
func providerCheck(reg *inference.Registry) func(context.Context) error {
	var mu sync.Mutex
	var last time.Time
	var lastErr error
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 5*time.Second {
			return lastErr
		}
		providers := reg.Providers()
		lastErr = errors.New("no provider configured or detected")
		for _, p := range providers {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := inference.ProbeEngine(pctx, p.Name, p.BaseURL, p.Headers)
			cancel()
			if err == nil {
				lastErr = nil
				break
			}
			lastErr = fmt.Errorf("no provider reachable (%s: %v)", p.Name, err)
		}
		last = time.Now()
		return lastErr
	}
}

// banner tells the user where jan listens, what it serves and how to try it.
func banner(out io.Writer, cfg config.Config, bound string, reg *inference.Registry) {
	base := cfg.PublicURL
	fmt.Fprintf(out, "\njan is serving the llm-api on %s\n", base)
	if host, _, _ := net.SplitHostPort(cfg.Addr); host == "" || net.ParseIP(host).IsUnspecified() {
		fmt.Fprintf(out, "  Listening  %s on every network interface: anyone who can reach this machine can call it\n", bound)
	}
	fmt.Fprintf(out, "  API        %s/v1\n", base)
	fmt.Fprintf(out, "  Health     %s/readyz\n", base)
	fmt.Fprintf(out, "  Database   %s\n", describeDB(cfg.DB))
	switch {
	case cfg.Keycloak.BaseURL != "":
		fmt.Fprintf(out, "  Identity   Keycloak %s\n", cfg.Keycloak.BaseURL)
	case cfg.Issuer != "":
		fmt.Fprintf(out, "  Identity   %s (verify only)\n", cfg.Issuer)
	default:
		fmt.Fprintf(out, "  Identity   embedded issuer %s\n", base)
	}
	providers := reg.Providers()
	if len(providers) == 0 {
		fmt.Fprintln(out, "\nNo engine found. Start Ollama, LM Studio, Jan or vLLM, or pass --engine URL / --providers FILE.")
	} else {
		fmt.Fprintln(out, "\nEngines and models:")
		for _, p := range providers {
			how := "configured"
			if p.Detected {
				how = "detected"
			}
			ids := make([]string, 0, len(p.Models))
			for _, m := range p.Models {
				ids = append(ids, m.ID)
			}
			fmt.Fprintf(out, "  %-12s %s (%s): %s\n", p.Name, p.BaseURL, how, strings.Join(ids, ", "))
		}
	}
	model := reg.DefaultModel()
	if model == "" {
		model = "MODEL"
	}
	fmt.Fprintf(out, "\nTry it:\n  TOKEN=$(curl -s -X POST %s/auth/guest | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n", base)
	fmt.Fprintf(out, "  curl %s/v1/chat/completions -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(out, "    -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'\n\n", model)
}
