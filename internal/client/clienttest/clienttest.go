// Package clienttest starts a real jan server (SQLite in a temp dir, the
// embedded issuer) in front of the fake engine, in-process, for the tests
// of the client, the TUI and the commands. It is for tests only.
package clienttest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/server"
	"github.com/janhq/jan/internal/store"
)

// Model is the public id of the model the fake engine serves.
const Model = "fake-model"

// Options configure the server and its engine.
type Options struct {
	Engine fakeengine.Options
	// Models are extra public model ids served by the same engine.
	Models []string
}

// Server is a running jan in front of a fake engine.
type Server struct {
	URL    string
	Engine *fakeengine.Engine
	Store  store.Store
	http   *httptest.Server
}

// Start runs jan until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ctx := context.Background()
	served := []string{"served/" + Model}
	specs := []inference.ModelSpec{{ID: Model, ServedName: "served/" + Model, Capabilities: []string{"chat", "completions"}}}
	for _, m := range o.Models {
		served = append(served, "served/"+m)
		specs = append(specs, inference.ModelSpec{ID: m, ServedName: "served/" + m, Capabilities: []string{"chat"}})
	}
	if o.Engine.Models == nil {
		o.Engine.Models = served
	}
	engine := fakeengine.New(o.Engine)
	eng := httptest.NewServer(engine)
	t.Cleanup(eng.Close)

	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "jan.db"), store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg := inference.NewRegistry(&inference.Config{
		Providers:       []inference.Provider{{Name: "fake", Kind: "openai", BaseURL: eng.URL, Models: specs}},
		DefaultProvider: "fake",
	})
	// The issuer needs the server's URL before the server exists: listen
	// first, start serving once the handler is set.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	issuer, err := auth.NewIssuer(auth.IssuerOptions{URL: url, KeyFile: filepath.Join(t.TempDir(), "key.pem")}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{
		Store: st, Registry: reg, Identity: issuer, Issuer: issuer,
		Upstream: inference.NewClient(inference.ClientOptions{HeaderTimeout: 10 * time.Second, Transport: inference.NewTransport()}),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		srv.Stop()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &Server{URL: hs.URL, Engine: engine, Store: st, http: hs}
}

// Handler is the server's handler, for tests that wrap it.
func (s *Server) Handler() http.Handler { return s.http.Config.Handler }
