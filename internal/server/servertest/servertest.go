// Package servertest starts a real jan server in-process for the tests of
// the client, the TUI and the commands: built by server.Build from
// settings, as production is (SQLite in a temp dir, the embedded issuer),
// in front of the fake engine. It is for tests only.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janhq/jan/internal/auth/keycloaktest"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/server"
)

// Model is the public id of the model the fake engine serves.
const Model = "fake-model"

// Options configure the server and its engine.
type Options struct {
	Engine fakeengine.Options
	// Models are extra public model ids served by the same engine.
	Models []string
	// Keycloak runs the server in Keycloak mode against a Keycloak double
	// (Server.Keycloak) instead of the embedded issuer.
	Keycloak bool
	// ExternalIssuer runs the server with a Keycloak double as an external
	// issuer (--issuer) with jan's client there (JAN_OIDC_CLIENT_ID), guests
	// from jan's own issuer beside it (Server.Keycloak).
	ExternalIssuer bool
}

// Server is a running jan in front of a fake engine.
type Server struct {
	URL      string
	Engine   *fakeengine.Engine
	Keycloak *keycloaktest.Server // in Keycloak mode
	http     *httptest.Server
}

// Start runs jan until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	served := []string{"served/" + Model}
	models := "      - {id: " + Model + ", served_name: served/" + Model + ", capabilities: [chat, completions]}\n"
	for _, m := range o.Models {
		served = append(served, "served/"+m)
		models += "      - {id: " + m + ", served_name: served/" + m + ", capabilities: [chat]}\n"
	}
	if o.Engine.Models == nil {
		o.Engine.Models = served
	}
	engine := fakeengine.New(o.Engine)
	eng := httptest.NewServer(engine)
	t.Cleanup(eng.Close)

	dir := t.TempDir()
	providers := filepath.Join(dir, "providers.yaml")
	yaml := "providers:\n  - name: fake\n    kind: openai\n    base_url: " + eng.URL + "\n    models:\n" + models +
		"routing:\n  default_provider: fake\n"
	if err := os.WriteFile(providers, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// The issuer needs the server's URL before the server exists: listen
	// first, start serving once the handler is set.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{
		"JAN_ADDR": ln.Addr().String(), "JAN_DATA_DIR": dir, "JAN_PROVIDERS": providers, "JAN_NO_DETECT": "true",
		"JAN_UPSTREAM_TIMEOUT": "10s", "JAN_RATE_LIMIT_GUEST": "off", "JAN_RATE_LIMIT_USER": "off", "JAN_RATE_LIMIT_AUTH": "off",
	}
	var kc *keycloaktest.Server
	if o.Keycloak || o.ExternalIssuer {
		kc = keycloaktest.New(t, keycloaktest.Options{PublicURL: "http://" + ln.Addr().String()})
	}
	if o.ExternalIssuer {
		settings["JAN_OIDC_ISSUER"], settings["JAN_OIDC_CLIENT_ID"], settings["JAN_OIDC_AUDIENCE"] = kc.Issuer(), kc.TargetClientID, kc.TargetClientID
	}
	if o.Keycloak {
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
	srv, cleanup, err := server.Build(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener.Close()
	hs.Listener = server.Listener(ln)
	hs.Start()
	t.Cleanup(func() {
		srv.Stop()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &Server{URL: strings.TrimRight(hs.URL, "/"), Engine: engine, Keycloak: kc, http: hs}
}

// Handler is the server's handler, for tests that wrap it.
func (s *Server) Handler() http.Handler { return s.http.Config.Handler }
