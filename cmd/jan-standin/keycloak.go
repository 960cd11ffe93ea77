package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/janhq/jan/internal/auth/keycloaktest"
)

// keycloakVersion is the Keycloak release compose.yaml pins.
const keycloakVersion = "26.3.3"

// keycloakOptions are the Keycloak options the stand-in reads, from the
// command line or, as Keycloak does, from KC_* variables (the command line
// wins).
type keycloakOptions struct {
	command       string // start-dev or start
	host          string
	httpPort      int
	mgmtPort      int
	importRealm   bool
	healthEnabled bool
	hostname      string
	importDir     string // <KC_HOME_DIR>/data/import
}

func parseKeycloakArgs(args []string, getenv func(string) string) (keycloakOptions, error) {
	flags := map[string]string{}
	var command string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			if command != "" {
				return keycloakOptions{}, fmt.Errorf("unexpected argument %q", a)
			}
			command = a
			continue
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			val = "true" // a switch (--import-realm), or "--opt value"
			if name != "import-realm" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				val = args[i]
			}
		}
		flags[name] = val
	}
	switch command {
	case "start-dev", "start":
	case "":
		return keycloakOptions{}, fmt.Errorf("no command: the stand-in runs start-dev or start")
	default:
		return keycloakOptions{}, fmt.Errorf("command %q: the stand-in runs start-dev or start", command)
	}
	opt := func(name, def string) string {
		if v, ok := flags[name]; ok {
			return v
		}
		env := "KC_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v := getenv(env); v != "" {
			return v
		}
		return def
	}
	o := keycloakOptions{
		command:       command,
		host:          opt("http-host", "0.0.0.0"),
		importRealm:   flags["import-realm"] == "true",
		healthEnabled: opt("health-enabled", "false") == "true",
		hostname:      opt("hostname", ""),
	}
	var err error
	if o.httpPort, err = portOption("http-port", opt("http-port", "8080")); err != nil {
		return o, err
	}
	if o.mgmtPort, err = portOption("http-management-port", opt("http-management-port", "9000")); err != nil {
		return o, err
	}
	home := getenv("KC_HOME_DIR")
	if home == "" {
		home = "/opt/keycloak"
	}
	o.importDir = filepath.Join(home, "data", "import")
	return o, nil
}

func portOption(name, v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("--%s=%s is not a port", name, v)
	}
	return p, nil
}

// baseURL is the double's BaseURL: KC_HOSTNAME when it is a URL (Keycloak's
// hostname v2 option); a bare hostname, or none, lets each request's Host
// decide.
func (o keycloakOptions) baseURL() string {
	if strings.HasPrefix(o.hostname, "http://") || strings.HasPrefix(o.hostname, "https://") {
		return strings.TrimRight(o.hostname, "/")
	}
	return ""
}

// realmFile is the one realm in the import directory: the stand-in serves
// a single realm, and without --import-realm it would have none.
func (o keycloakOptions) realmFile() ([]byte, error) {
	if !o.importRealm {
		return nil, fmt.Errorf("the stand-in serves only an imported realm: run it with --import-realm")
	}
	files, _ := filepath.Glob(filepath.Join(o.importDir, "*.json"))
	switch len(files) {
	case 0:
		return nil, fmt.Errorf("--import-realm: no realm file in %s (compose copies realm-jan.json to %s)",
			o.importDir, filepath.Join(o.importDir, "realm-jan.json"))
	case 1:
		return os.ReadFile(files[0])
	default:
		return nil, fmt.Errorf("--import-realm: the stand-in serves one realm, found %s", strings.Join(files, ", "))
	}
}

func runKeycloak(ctx context.Context, p proc) int {
	start := time.Now()
	fail := func(code int, err error) int {
		fmt.Fprintf(p.stderr, "ERROR: %v\n", err)
		return code
	}
	o, err := parseKeycloakArgs(p.args, p.getenv)
	if err != nil {
		return fail(2, err)
	}
	// The management interface answers first (not ready) so a healthcheck
	// during start sees 503, as with Keycloak, instead of a refused port.
	var ready atomic.Bool
	mgmtAddr := net.JoinHostPort(o.host, strconv.Itoa(o.mgmtPort))
	mgmtLn, err := listen("keycloak management interface", mgmtAddr)
	if err != nil {
		return fail(1, err)
	}
	mgmtCtx, stopMgmt := context.WithCancel(ctx)
	mgmtDone := make(chan error, 1)
	go func() { mgmtDone <- serveAll(mgmtCtx, server{mgmtLn, keycloakManagement(o.healthEnabled, &ready)}) }()
	defer func() { stopMgmt(); <-mgmtDone }()

	realm, err := o.realmFile()
	if err != nil {
		return fail(1, err)
	}
	d, err := keycloaktest.NewHandler(keycloaktest.Options{
		RealmJSON:           realm,
		BackendClientSecret: p.getenv("BACKEND_CLIENT_SECRET"),
		PublicURL:           p.getenv("JAN_PUBLIC_URL"), // the realm's ${JAN_PUBLIC_URL:…}, from the environment as Keycloak's import reads it
		BaseURL:             o.baseURL(),
	})
	if err != nil {
		return fail(1, fmt.Errorf("import realm: %w", err))
	}
	store, err := openKeycloakStore(ctx, p.getenv)
	if err != nil {
		return fail(1, err)
	}
	imported := true
	handler := d.Handler()
	if store != nil {
		defer store.db.Close()
		state, err := store.load(ctx)
		if err != nil {
			return fail(1, fmt.Errorf("keycloak database: %w", err))
		}
		if state != nil {
			if err := d.Restore(state); err != nil {
				return fail(1, err)
			}
			imported = false
		}
		var stop func()
		handler, stop = persisting(ctx, d, store, handler, p)
		defer stop()
	}
	httpAddr := net.JoinHostPort(o.host, strconv.Itoa(o.httpPort))
	ln, err := listen("keycloak", httpAddr)
	if err != nil {
		return fail(1, err)
	}
	ready.Store(true)
	if imported {
		fmt.Fprintf(p.stdout, "INFO  [org.keycloak.exportimport.util.ImportUtils] Realm '%s' imported\n", d.Realm)
	} else {
		fmt.Fprintf(p.stdout, "INFO  [org.keycloak.exportimport.dir.DirImportProvider] Realm '%s' already exists. Import skipped\n", d.Realm)
	}
	fmt.Fprintf(p.stdout, "INFO  [io.quarkus] Keycloak %s (%s) started in %.3fs. Listening on: http://%s. Management interface listening on http://%s.\n",
		keycloakVersion, version, time.Since(start).Seconds(), httpAddr, mgmtAddr)
	if o.command == "start-dev" {
		fmt.Fprintln(p.stdout, "WARN  [org.keycloak.quarkus.runtime.KeycloakMain] Running the server in development mode. DO NOT use this configuration in production.")
	}
	if err := serveAll(ctx, server{ln, handler}); err != nil {
		return fail(1, err)
	}
	return 0
}

// persisting saves the double's state after every request that may change
// it (anything but GET and HEAD), in the background, one save at a time;
// stop makes the last save.
func persisting(ctx context.Context, d *keycloaktest.Double, store *keycloakStore, next http.Handler, p proc) (http.Handler, func()) {
	dirty := make(chan struct{}, 1)
	quit, done := make(chan struct{}), make(chan struct{})
	save := func() {
		state, err := d.Snapshot()
		if err == nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err = store.save(sctx, state)
			cancel()
		}
		if err != nil {
			fmt.Fprintf(p.stderr, "ERROR [org.keycloak.storage] saving the realm's data: %v\n", err)
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-dirty:
				save()
			case <-quit:
				return
			}
		}
	}()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			select {
			case dirty <- struct{}{}:
			default: // a save is due already: it will see this change
			}
		}
	})
	return h, func() { close(quit); <-done; save() }
}

// keycloakManagement is the management interface: the health endpoints
// when health is enabled (KC_HEALTH_ENABLED), 404 otherwise, as Keycloak.
func keycloakManagement(healthEnabled bool, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	health := func(gated bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			status, code := "UP", http.StatusOK
			if gated && !ready.Load() {
				status, code = "DOWN", http.StatusServiceUnavailable
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": []any{}})
		}
	}
	if healthEnabled {
		mux.HandleFunc("GET /health", health(true))
		mux.HandleFunc("GET /health/ready", health(true))
		mux.HandleFunc("GET /health/started", health(true))
		mux.HandleFunc("GET /health/live", health(false))
	}
	return mux
}
