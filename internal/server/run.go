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
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/janhq/jan/internal/memtrim"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// Run listens, builds the server from cfg (Build), serves until ctx ends,
// finishing runs an earlier process under the same name left, then shuts
// down gracefully: new
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

	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen on %s for /metrics: %w (choose another with --metrics-addr or JAN_METRICS_ADDR)", cfg.MetricsAddr, err)
		}
		defer metricsLn.Close()
	}

	cfg.Addr = ln.Addr().String() // the port, when it was 0, for the name this process runs under
	srv, cleanup, err := Build(ctx, cfg, log, out)
	if err != nil {
		return err
	}
	defer cleanup()
	// This process holds the listen address now, so runs an earlier
	// process under the same name left in progress are orphans.
	if n, err := srv.Recover(ctx, true); err != nil {
		log.Warn("recover runs left by a stopped server", "err", err)
	} else if n > 0 {
		fmt.Fprintf(out, "Finished %d run(s) and response(s) a stopped server left in progress, keeping their answers so far.\n", n)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: cfg.HeaderTimeout, IdleTimeout: 120 * time.Second, MaxHeaderBytes: cfg.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// Start-up is over: what it touched and serving will not use goes back
	// (the binary's pages every initialiser touched, the heap's garbage) —
	// 10 MB of a 40 MB RSS, measured — before the first request.
	if n := memtrim.AfterStart(); n > 0 {
		log.Debug("start-up memory given back", "binary_pages_bytes", n)
	}
	servingGC(os.Getenv)
	served := make(chan error, 1+len(extra))
	go func() { served <- hs.Serve(Listener(ln)) }()
	for _, l := range extra {
		go func() { served <- hs.Serve(Listener(l)) }()
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HeaderTimeout}
		go func() { _ = ms.Serve(metricsLn) }()
		defer ms.Close()
	}
	go housekeeping(ctx, srv.store, cfg.GuestRetention, log)
	go srv.SweepRuns(ctx)
	go srv.WatchCancels(ctx)
	banner(out, cfg, ln.Addr().String(), srv.models)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Draining: /readyz turns 503 at once so load balancers stop sending,
	// while requests that still come are served — for DrainDelay at least,
	// and until those in flight have finished (within the grace).
	srv.Drain()
	fmt.Fprintln(out, "\nShutting down: /readyz answers 503; finishing in-flight requests (Ctrl+C again to force)…")
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	minUntil := time.Now().Add(cfg.DrainDelay)
	for graceCtx.Err() == nil && (time.Now().Before(minUntil) || srv.InFlight() > 0 || srv.ActiveRuns() > 0) {
		time.Sleep(20 * time.Millisecond)
	}
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
	// Background runs nobody waits on that still run end incomplete with
	// their answer so far, stored before the exit: none is left in progress.
	srv.Stop()
	for deadline := time.Now().Add(5 * time.Second); srv.ActiveRuns() > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
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

// banner tells the user where jan listens, what it serves and how to try it.
func banner(out io.Writer, cfg config.Config, bound string, reg *inference.Registry) {
	base := cfg.PublicURL
	fmt.Fprintf(out, "\njan is serving the llm-api on %s\n", base)
	if host, _, _ := net.SplitHostPort(cfg.Addr); host == "" || net.ParseIP(host).IsUnspecified() {
		fmt.Fprintf(out, "  Listening  %s on every network interface: anyone who can reach this machine can call it\n", bound)
	}
	fmt.Fprintf(out, "  API        %s/v1\n", base)
	fmt.Fprintf(out, "  Health     %s/readyz\n", base)
	fmt.Fprintf(out, "  API docs   %s/v1/openapi.json\n", base)
	switch {
	case cfg.MetricsAddr != "":
		fmt.Fprintf(out, "  Metrics    http://%s/metrics\n", config.Dialable(cfg.MetricsAddr))
	case cfg.MetricsToken != "":
		fmt.Fprintf(out, "  Metrics    %s/metrics (bearer JAN_METRICS_TOKEN)\n", base)
	case config.IsLoopback(cfg.Addr):
		fmt.Fprintf(out, "  Metrics    %s/metrics\n", base)
	default:
		fmt.Fprintf(out, "  Metrics    off on this address: set JAN_METRICS_TOKEN or --metrics-addr\n")
	}
	fmt.Fprintf(out, "  Database   %s\n", describeDB(cfg.DB))
	switch {
	case cfg.Keycloak.BaseURL != "":
		fmt.Fprintf(out, "  Identity   Keycloak %s\n", cfg.Keycloak.BaseURL)
	case cfg.Issuer != "" && cfg.OIDCClient.ID != "":
		fmt.Fprintf(out, "  Identity   %s (browser sign-in as client %s; its redirect URI: %s)\n", cfg.Issuer, cfg.OIDCClient.ID, callbackURL(cfg.PublicURL))
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

// servingGC sets the garbage collector's target for serving: GOGC=200
// instead of Go's 100, unless the environment sets GOGC (which the runtime
// has applied). Requests allocate garbage over a live heap of a few MB, so
// at 100 the collector runs often under load; at 200 half as often: ~4 %
// less of jan's CPU a full-path request, ~3 % more requests a second
// (jan-bench -ab, three runs, docs/BENCHMARKS.md). The idle heap is small:
// idle RSS and memory per open stream did not move. Under load the heap
// may reach three times the live data instead of two.
func servingGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}
