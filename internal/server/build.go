package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/auth/keycloak"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// Build is the one composition root: it wires a Server from cfg — the data
// dir, the store (migrated), the model registry (providers.yaml, --engine
// URLs, detected engines), identity (embedded issuer, Keycloak or an
// external issuer), rate and body limits, durability, and tracing. jan serve
// and jan up (through Run) and the tests all build servers with it. It does
// not listen or start background work (Run does); cleanup closes what it
// opened. Human-readable progress goes to out.
func Build(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) (srv *Server, cleanup func(), err error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if err := privateDir(cfg.DataDir, log); err != nil {
		return nil, nil, fmt.Errorf("data dir %s: %w (set --data-dir or JAN_DATA_DIR)", cfg.DataDir, err)
	}
	fmt.Fprintf(out, "Opening the database (%s)…\n", describeDB(cfg.DB))
	st, err := store.Open(ctx, cfg.DB, store.Options{AutoMigrate: cfg.AutoMigrate, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	closers = append(closers, func() { st.Close() })

	registry, err := loadRegistry(ctx, cfg, out)
	if err != nil {
		return nil, nil, err
	}
	if err := st.UpsertModels(ctx, storeModels(registry.Models())); err != nil {
		return nil, nil, fmt.Errorf("record models: %w", err)
	}
	identity, issuer, err := identityFor(ctx, cfg, st, log, out)
	if err != nil {
		return nil, nil, err
	}
	limits, err := rateLimits(cfg)
	if err != nil {
		return nil, nil, err
	}
	tracer, stopTracing, err := setupTracing(ctx, cfg.Telemetry)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, stopTracing)

	var transport http.RoundTripper = inference.NewTransport()
	if cfg.Telemetry.Enabled() {
		transport = propagating{transport}
	}
	meters, promHandler, stopMetrics, err := setupMetrics(ctx, cfg.Telemetry)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, stopMetrics)
	host, _ := os.Hostname()
	srv = New(Options{
		Metrics: MetricsOptions{Provider: meters, Handler: promHandler, Token: cfg.MetricsToken,
			Open: config.IsLoopback(cfg.Addr), Elsewhere: cfg.MetricsAddr != ""},
		Store: st, Registry: registry, Identity: identity, Issuer: issuer, Logger: log, Tracer: tracer,
		Bodies:        BodyLimits{Max: cfg.BodyLimit, Timeout: cfg.BodyTimeout, MinRate: cfg.BodyMinRate, Buffer: cfg.BodyBuffer, Grace: cfg.BodyGrace},
		Upstream:      inference.NewClient(inference.ClientOptions{HeaderTimeout: cfg.UpstreamTimeout, Transport: transport}),
		ProviderCheck: providerCheck(registry),
		RateLimits:    &limits,
		GatewaySecret: cfg.GatewaySecret,
		ListBytes:     cfg.ListBytes,
		PublicURL:     cfg.PublicURL, LoginRedirects: cfg.LoginRedirects,
		// The host and listen address name this process: only one process
		// at a time can listen there, so one that starts under the same
		// name knows the runs left under it are orphans.
		Durability: Durability{Instance: host + "/" + cfg.Addr, Checkpoint: cfg.RunCheckpoint, StaleAfter: cfg.RunStaleAfter,
			FinalWriteRetry: cfg.FinalWriteRetry},
	})
	return srv, closeAll, nil
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
			if !errors.Is(err, fs.ErrPermission) {
				return err
			}
			// Not ours to tighten: a mounted volume's root (Kubernetes'
			// emptyDir, a claim with fsGroup). Its files are still created
			// 0600; say what others could do to the directory.
			log.Warn("data dir is open to other users and owned by another: jan's files in it are private (0600), but others may remove them; mount it for jan's user alone or use a directory under it",
				"dir", dir, "mode", fmt.Sprintf("%04o", perm))
			return nil
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
		c := cfg.OIDCClient
		ext, err := auth.NewExternal(ctx, nil, cfg.Issuer, cfg.Audience, auth.OIDCClientOptions{ClientID: c.ID, ClientSecret: c.Secret, Scopes: c.Scopes},
			auth.UsernameClaim(cfg.UsernameClaim))
		if err != nil {
			return nil, nil, fmt.Errorf("identity provider %s: %w (check --issuer / JAN_OIDC_ISSUER, and --client-id / JAN_OIDC_CLIENT_ID)", cfg.Issuer, err)
		}
		if cfg.NoGuests {
			return ext, nil, nil
		}
		// Guests from jan's own issuer beside the provider's accounts.
		if strings.TrimSuffix(cfg.PublicURL, "/") == strings.TrimSuffix(cfg.Issuer, "/") {
			return nil, nil, fmt.Errorf("--issuer %s is jan's own address (JAN_PUBLIC_URL): name the provider, or run without --issuer", cfg.Issuer)
		}
		own, err := embeddedIssuer(cfg, config.Defaults().Audience, st, log) // its tokens' audience, whatever the provider's
		if err != nil {
			return nil, nil, err
		}
		return auth.WithGuests{External: ext, Own: own}, own, nil
	}
	issuer, err := embeddedIssuer(cfg, cfg.Audience, st, log)
	if err != nil {
		return nil, nil, err
	}
	return issuer, issuer, nil
}

// embeddedIssuer is jan's own issuer, its key in the data dir and the store.
func embeddedIssuer(cfg config.Config, audience string, st store.Store, log *slog.Logger) (*auth.Issuer, error) {
	issuer, err := auth.NewIssuer(auth.IssuerOptions{URL: cfg.PublicURL, KeyFile: filepath.Join(cfg.DataDir, "signing-key.pem"), Keys: st,
		KeyRotation: cfg.KeyRotation, Audience: audience, Admins: cfg.Admins, PasswordHashes: cfg.PasswordHashes, Logger: log}, st)
	if err != nil {
		return nil, fmt.Errorf("embedded identity: %w", err)
	}
	return issuer, nil
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
