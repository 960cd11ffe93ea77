package keycloaktest

import (
	"net/http/httptest"
	"testing"

	"github.com/janhq/jan/internal/auth/keycloak"
)

// Server is a Double listening on a loopback port for one test.
type Server struct {
	*Double
	srv *httptest.Server
}

// New starts a double for t; it stops when t ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	d, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Double: d, srv: httptest.NewServer(d.Handler())}
	t.Cleanup(s.srv.Close)
	return s
}

// URL is Keycloak's base URL, e.g. "http://127.0.0.1:41234" (KEYCLOAK_BASE_URL).
func (s *Server) URL() string { return s.srv.URL }

// Issuer is the realm's issuer URL: tokens' iss.
func (s *Server) Issuer() string { return s.srv.URL + "/realms/" + s.Realm }

// Close stops the listener: later calls find the port closed, as when
// Keycloak is down. The double's state stays readable.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Config is the keycloak.Config that points jan at this double.
func (s *Server) Config() keycloak.Config {
	return keycloak.Config{
		BaseURL:             s.URL(),
		Realm:               s.Realm,
		BackendClientID:     s.BackendClientID,
		BackendClientSecret: s.BackendClientSecret,
		TargetClientID:      s.TargetClientID,
		GuestRole:           "guest",
	}
}
