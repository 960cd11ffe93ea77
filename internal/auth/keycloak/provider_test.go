package keycloak_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/assets"
	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/auth/keycloak"
	"github.com/janhq/jan/internal/auth/keycloaktest"
)

const grantExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

func newProvider(t *testing.T, s *keycloaktest.Server, grant string) *keycloak.Provider {
	t.Helper()
	cfg := s.Config()
	cfg.GuestGrant = grant
	p, err := keycloak.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func problemOf(t *testing.T, err error) *auth.Problem {
	t.Helper()
	var p *auth.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T), want *auth.Problem", err, err)
	}
	return p
}

func wantProblem(t *testing.T, err error, status int, code string) *auth.Problem {
	t.Helper()
	p := problemOf(t, err)
	if p.Status != status || p.Code != code {
		t.Fatalf("Problem = %d %s (%v), want %d %s", p.Status, p.Code, p, status, code)
	}
	return p
}

func wantInvalidToken(t *testing.T, err error) {
	t.Helper()
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != auth.CodeInvalidToken {
		t.Fatalf("error %v (%T), want *auth.Error invalid_token", err, err)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	if err := (keycloak.Config{BaseURL: "http://keycloak:8080/", BackendClientSecret: "s"}).Check(); err != nil {
		t.Fatalf("the two required settings and defaults: %v", err)
	}
	c := keycloak.Config{BaseURL: "https://id.example/auth", BackendClientSecret: "s", Realm: "r", GuestGrant: "password"}
	if err := c.Check(); err != nil || c.IssuerURL() != "https://id.example/auth/realms/r" {
		t.Fatalf("explicit: %q, %v", c.IssuerURL(), err)
	}
	for name, tc := range map[string]struct {
		c    keycloak.Config
		want string
	}{
		"nothing":       {keycloak.Config{}, "KEYCLOAK_BASE_URL is required"},
		"no secret":     {keycloak.Config{BaseURL: "http://k"}, "BACKEND_CLIENT_SECRET is required"},
		"relative URL":  {keycloak.Config{BaseURL: "keycloak:8080", BackendClientSecret: "hunter2"}, "KEYCLOAK_BASE_URL"},
		"unknown grant": {keycloak.Config{BaseURL: "http://k", BackendClientSecret: "hunter2", GuestGrant: "magic"}, "KEYCLOAK_GUEST_GRANT"},
	} {
		err := tc.c.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}
}

// TestGuestLifecycle is the whole story against the double, with both ways
// of getting a guest's first tokens: guest → verify → refresh rotates →
// upgrade (rules, duplicates, non-guest) → fresh tokens as the same ID →
// old guest refresh token dead → logout revokes.
func TestGuestLifecycle(t *testing.T) {
	t.Parallel()
	for _, grant := range []string{keycloak.GuestGrantTokenExchange, keycloak.GuestGrantPassword} {
		t.Run(grant, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := keycloaktest.New(t, keycloaktest.Options{})
			p := newProvider(t, s, grant)
			v := p.Verifier()

			toks, acct, err := p.Guest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !acct.Guest || !strings.HasPrefix(acct.Username, "guest-") || toks.TokenType != "Bearer" || toks.ExpiresIn <= 0 {
				t.Fatalf("guest account %+v, tokens type %q expires_in %d", acct, toks.TokenType, toks.ExpiresIn)
			}
			pr, err := v.Verify(ctx, toks.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if pr.ID != acct.ID || !pr.IsGuest || pr.Username != acct.Username || pr.AuthMethod != auth.MethodJWT ||
				!slices.Contains(pr.Scopes, auth.ScopeGuest) || slices.Contains(pr.Scopes, auth.ScopeUser) {
				t.Fatalf("guest principal %+v, account %+v", pr, acct)
			}
			if u, ok := s.User(acct.ID); !ok || !u.IsGuest() || !u.HasRole("guest") || u.Email != "" {
				t.Fatalf("Keycloak user %+v (found %v)", u, ok)
			}
			if n := s.TokenCalls(grantExchange); (grant == keycloak.GuestGrantTokenExchange) != (n == 1) {
				t.Fatalf("%d token exchanges for grant %s", n, grant)
			}

			// Refresh rotates: the new token works, the old one is dead.
			toks2, acct2, err := p.Refresh(ctx, toks.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if acct2.ID != acct.ID || !acct2.Guest || toks2.RefreshToken == toks.RefreshToken {
				t.Fatalf("refreshed account %+v", acct2)
			}
			_, _, err = p.Refresh(ctx, toks.RefreshToken)
			wantInvalidToken(t, err)

			// Upgrade input rules are auth.ValidateUpgrade's, before any call.
			good := auth.Upgrade{Username: "Alice", Email: "Alice@Example.com", Password: "correct horse 9"}
			for _, bad := range []struct {
				u     auth.Upgrade
				param string
			}{
				{auth.Upgrade{Email: good.Email, Password: good.Password}, "username"},
				{auth.Upgrade{Username: "guest-me", Email: good.Email, Password: good.Password}, "username"},
				{auth.Upgrade{Username: good.Username, Email: "not-an-email", Password: good.Password}, "email"},
				{auth.Upgrade{Username: good.Username, Email: good.Email, Password: "short1"}, "password"},
				{auth.Upgrade{Username: good.Username, Email: good.Email, Password: "alllettersonly"}, "password"},
			} {
				_, _, err := p.Upgrade(ctx, pr, bad.u)
				if p := wantProblem(t, err, http.StatusBadRequest, problemOf(t, err).Code); p.Param != bad.param {
					t.Errorf("upgrade %+v: param %q, want %q", bad.u, p.Param, bad.param)
				}
			}

			// Duplicates, compared case-insensitively as Keycloak does.
			if _, err := s.CreateUser(keycloaktest.UserSpec{Username: "bob", Email: "bob@example.com", Password: "bobs password 1", RealmRoles: []string{"user"}}); err != nil {
				t.Fatal(err)
			}
			_, _, err = p.Upgrade(ctx, pr, auth.Upgrade{Username: "BOB", Email: good.Email, Password: good.Password})
			if p := wantProblem(t, err, http.StatusConflict, keycloak.CodeUsernameTaken); p.Param != "username" {
				t.Errorf("param %q", p.Param)
			}
			_, _, err = p.Upgrade(ctx, pr, auth.Upgrade{Username: good.Username, Email: "BOB@example.com", Password: good.Password})
			if p := wantProblem(t, err, http.StatusConflict, keycloak.CodeEmailTaken); p.Param != "email" {
				t.Errorf("param %q", p.Param)
			}
			if u, _ := s.User(acct.ID); !u.IsGuest() || u.Username != acct.Username || u.HasPassword && grant == keycloak.GuestGrantTokenExchange {
				t.Fatalf("refused upgrades changed the user: %+v", u)
			}

			// The upgrade.
			toks3, acct3, err := p.Upgrade(ctx, pr, good)
			if err != nil {
				t.Fatal(err)
			}
			if acct3.ID != acct.ID || acct3.Guest || acct3.Username != "alice" || acct3.Email != "alice@example.com" {
				t.Fatalf("upgraded account %+v", acct3)
			}
			pr3, err := v.Verify(ctx, toks3.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if pr3.ID != acct.ID || pr3.IsGuest || pr3.Username != "alice" ||
				!slices.Contains(pr3.Scopes, auth.ScopeUser) || slices.Contains(pr3.Scopes, auth.ScopeGuest) {
				t.Fatalf("upgraded principal %+v", pr3)
			}
			u, _ := s.User(acct.ID)
			if u.IsGuest() || u.HasRole("guest") || !u.HasRole("user") || u.EmailVerified || u.Sessions != 1 {
				t.Fatalf("upgraded Keycloak user %+v", u)
			}

			// The guest's refresh token died with its sessions.
			_, _, err = p.Refresh(ctx, toks2.RefreshToken)
			wantInvalidToken(t, err)

			// Upgrading again: as the user, or with the old guest token.
			again := auth.Upgrade{Username: "alice2", Email: "alice2@example.com", Password: good.Password}
			_, _, err = p.Upgrade(ctx, pr3, again)
			wantProblem(t, err, http.StatusConflict, keycloak.CodeNotAGuest)
			_, _, err = p.Upgrade(ctx, pr, again)
			wantProblem(t, err, http.StatusConflict, keycloak.CodeNotAGuest)

			// Logout revokes the refresh token; unknown tokens are fine.
			toks4, _, err := p.Refresh(ctx, toks3.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Logout(ctx, toks4.RefreshToken); err != nil {
				t.Fatal(err)
			}
			_, _, err = p.Refresh(ctx, toks4.RefreshToken)
			wantInvalidToken(t, err)
			for _, rt := range []string{toks4.RefreshToken, toks.RefreshToken, "garbage", ""} {
				if err := p.Logout(ctx, rt); err != nil {
					t.Errorf("Logout(%.10q): %v", rt, err)
				}
			}
			if u, _ := s.User(acct.ID); u.Sessions != 0 {
				t.Errorf("%d sessions left after logout", u.Sessions)
			}
		})
	}
}

// TestGuestFailureDeletesUser: whatever fails after the user exists, no
// half-created guest stays in Keycloak.
func TestGuestFailureDeletesUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   keycloaktest.Options
		match  keycloaktest.Match
		status int
		want   int
		code   string
	}{
		{"role lookup 500", keycloaktest.Options{}, keycloaktest.Match{Method: "GET", Path: "/roles/guest"}, 500, 502, keycloak.CodeIdentityError},
		{"role assignment 500", keycloaktest.Options{}, keycloaktest.Match{Method: "POST", Path: "/role-mappings/realm"}, 500, 502, keycloak.CodeIdentityError},
		{"role assignment dropped", keycloaktest.Options{}, keycloaktest.Match{Method: "POST", Path: "/role-mappings/realm"}, keycloaktest.Drop, 503, keycloak.CodeUnavailable},
		{"token exchange 500", keycloaktest.Options{}, keycloaktest.Match{Grant: grantExchange}, 500, 502, keycloak.CodeIdentityError},
		{"token exchange garbage", keycloaktest.Options{}, keycloaktest.Match{Grant: grantExchange}, keycloaktest.Garbage, 502, keycloak.CodeIdentityError},
		{"token exchange dropped", keycloaktest.Options{}, keycloaktest.Match{Grant: grantExchange}, keycloaktest.Drop, 503, keycloak.CodeUnavailable},
		{"token exchange not enabled", keycloaktest.Options{StandardTokenExchangeOnly: true}, keycloaktest.Match{}, 0, 502, keycloak.CodeIdentityError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := keycloaktest.New(t, tc.opts)
			p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
			if tc.status != 0 {
				s.FailNext(tc.match, tc.status)
			}
			_, _, err := p.Guest(context.Background())
			pr := wantProblem(t, err, tc.want, tc.code)
			if users := s.Users(); len(users) != 0 {
				t.Fatalf("half-created guest left behind: %+v", users)
			}
			if strings.Contains(pr.Message, "keycloak:") || strings.Contains(pr.Error(), s.BackendClientSecret) {
				t.Fatalf("message shows internals or the secret: %q / %q", pr.Message, pr.Error())
			}
			if tc.opts.StandardTokenExchangeOnly && !strings.Contains(pr.Error(), keycloak.EnvGuestGrant) {
				t.Errorf("the error should say how to fix Keycloak or switch %s: %v", keycloak.EnvGuestGrant, pr)
			}
			// The next guest works: nothing stuck.
			if _, _, err := p.Guest(context.Background()); err != nil && !tc.opts.StandardTokenExchangeOnly {
				t.Fatal(err)
			}
		})
	}
}

func TestKeycloakUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	toks, acct, err := p.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := p.Verifier().Verify(ctx, toks.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	before := s.Users()
	s.Close()

	_, _, err = p.Guest(ctx)
	wantProblem(t, err, http.StatusServiceUnavailable, keycloak.CodeUnavailable)
	if after := s.Users(); len(after) != len(before) {
		t.Fatalf("users %d → %d while Keycloak was down", len(before), len(after))
	}
	_, _, err = p.Refresh(ctx, toks.RefreshToken)
	wantProblem(t, err, http.StatusServiceUnavailable, keycloak.CodeUnavailable)
	_, _, err = p.Upgrade(ctx, pr, auth.Upgrade{Username: "alice", Email: "a@example.com", Password: "correct horse 9"})
	wantProblem(t, err, http.StatusServiceUnavailable, keycloak.CodeUnavailable)
	err = p.Logout(ctx, toks.RefreshToken)
	wantProblem(t, err, http.StatusServiceUnavailable, keycloak.CodeUnavailable)
	if err := p.Ready(ctx); problemOf(t, err).Status != http.StatusServiceUnavailable {
		t.Fatalf("Ready = %v", err)
	}
	// A token verified before the outage still verifies (cached keys).
	if _, err := p.Verifier().Verify(ctx, toks.AccessToken); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(acct.ID); !u.IsGuest() {
		t.Fatal("the guest changed while Keycloak was down")
	}

	// At startup, a closed port is an error naming the realm.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := s.Config()
	cfg.BaseURL = "http://" + addr
	if _, err := keycloak.New(ctx, cfg); err == nil || !strings.Contains(err.Error(), `realm "jan"`) {
		t.Fatalf("New against a closed port: %v", err)
	}
}

func TestNewRefusesIssuerMismatch(t *testing.T) {
	t.Parallel()
	// Keycloak with a hostname setting names its issuer by that hostname,
	// whatever address jan reaches it at: tokens would never verify.
	s := keycloaktest.New(t, keycloaktest.Options{BaseURL: "https://id.example.com"})
	_, err := keycloak.New(context.Background(), s.Config())
	if err == nil || !strings.Contains(err.Error(), "KEYCLOAK_BASE_URL") || !strings.Contains(err.Error(), "https://id.example.com/realms/jan") {
		t.Fatalf("New = %v, want an issuer mismatch naming KEYCLOAK_BASE_URL", err)
	}
}

// TestForgedKidFlood: 1,000 tokens with unknown kids (valid claims, so
// go-oidc gets as far as the key lookup) cost at most one JWKS fetch.
func TestForgedKidFlood(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	toks, _, err := p.Guest(ctx) // verifies its token: the first JWKS fetch
	if err != nil {
		t.Fatal(err)
	}
	before := s.JWKSFetches()
	if before != 1 {
		t.Fatalf("%d JWKS fetches after the first token, want 1", before)
	}

	payload := strings.Split(toks.AccessToken, ".")[1]
	sig := base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	for i := range 1000 {
		h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": fmt.Sprintf("forged-%d", i)})
		forged := base64.RawURLEncoding.EncodeToString(h) + "." + payload + "." + sig
		_, err := p.Verifier().Verify(ctx, forged)
		wantInvalidToken(t, err)
	}
	if extra := s.JWKSFetches() - before; extra > 1 {
		t.Fatalf("1,000 forged tokens caused %d JWKS fetches, want at most 1", extra)
	}
	// The real token still verifies.
	if _, err := p.Verifier().Verify(ctx, toks.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func TestServiceAccountToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	for range 3 {
		if _, _, err := p.Guest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.TokenCalls("client_credentials"); n != 1 {
		t.Fatalf("%d client_credentials grants for 3 guests, want 1 (cached)", n)
	}
	// Keycloak forgets the token (restart, revocation): one retry with a new one.
	s.FailNext(keycloaktest.Match{Method: "POST", Path: "/admin/realms/jan/users"}, http.StatusUnauthorized)
	if _, _, err := p.Guest(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.TokenCalls("client_credentials"); n != 2 {
		t.Fatalf("%d client_credentials grants, want 2 after a 401", n)
	}
	if len(s.Users()) != 4 {
		t.Fatalf("%d users, want 4", len(s.Users()))
	}
}

func TestWrongClientSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	cfg := s.Config()
	cfg.BackendClientSecret = "not-the-secret-xyzzy"
	p, err := keycloak.New(ctx, cfg)
	if err != nil {
		t.Fatal(err) // discovery needs no credentials
	}
	err = p.Ready(ctx)
	pr := wantProblem(t, err, http.StatusBadGateway, keycloak.CodeIdentityError)
	if !strings.Contains(pr.Error(), "BACKEND_CLIENT_SECRET") || strings.Contains(pr.Error(), "xyzzy") || strings.Contains(pr.Error(), s.BackendClientSecret) {
		t.Fatalf("error should name the variable, not the value: %v", pr)
	}
	_, _, err = p.Guest(ctx)
	wantProblem(t, err, http.StatusBadGateway, keycloak.CodeIdentityError)
	if len(s.Users()) != 0 {
		t.Fatal("a guest was created without credentials")
	}
	good := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	if err := good.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeStricterKeycloakPolicy: a realm password policy stricter than
// jan's refuses the password first, before the account changes.
func TestUpgradeStricterKeycloakPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{RealmJSON: realmWith(t, func(r map[string]any) {
		r["passwordPolicy"] = "length(20)"
	})})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	toks, acct, err := p.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := p.Verifier().Verify(ctx, toks.AccessToken)
	_, _, err = p.Upgrade(ctx, pr, auth.Upgrade{Username: "carol", Email: "carol@example.com", Password: "twelve chars1"})
	prob := wantProblem(t, err, http.StatusBadRequest, keycloak.CodeWeakPassword)
	if prob.Param != "password" || !strings.Contains(prob.Message, "minimum length 20") {
		t.Fatalf("problem %+v", prob)
	}
	if u, _ := s.User(acct.ID); u.Username != acct.Username || !u.IsGuest() || !u.HasRole("guest") {
		t.Fatalf("refused upgrade changed the user: %+v", u)
	}
}

// TestUpgradeRetryAfterPartialFailure: until the guest role is removed an
// upgrade can be retried with the same guest token.
func TestUpgradeRetryAfterPartialFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	toks, acct, err := p.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := p.Verifier().Verify(ctx, toks.AccessToken)
	up := auth.Upgrade{Username: "dave", Email: "dave@example.com", Password: "correct horse 9"}

	s.FailNext(keycloaktest.Match{Method: "DELETE", Path: "/role-mappings/realm"}, http.StatusInternalServerError)
	_, _, err = p.Upgrade(ctx, pr, up)
	wantProblem(t, err, http.StatusBadGateway, keycloak.CodeIdentityError)

	// Keycloak's own 409 (a race the pre-check missed) is a 409 too.
	s.FailNext(keycloaktest.Match{Method: "PUT", Path: "/users/" + acct.ID}, http.StatusConflict)
	_, _, err = p.Upgrade(ctx, pr, up)
	wantProblem(t, err, http.StatusConflict, keycloak.CodeUsernameTaken)

	toks2, acct2, err := p.Upgrade(ctx, pr, up)
	if err != nil {
		t.Fatal(err)
	}
	if acct2.ID != acct.ID || acct2.Guest {
		t.Fatalf("account %+v", acct2)
	}
	if _, err := p.Verifier().Verify(ctx, toks2.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeAfterGuestDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	pr := &auth.Principal{ID: "00000000-0000-4000-8000-000000000000", IsGuest: true}
	_, _, err := p.Upgrade(ctx, pr, auth.Upgrade{Username: "erin", Email: "erin@example.com", Password: "correct horse 9"})
	wantInvalidToken(t, err)
	_, _, err = p.Upgrade(ctx, nil, auth.Upgrade{Username: "erin", Email: "erin@example.com", Password: "correct horse 9"})
	wantProblem(t, err, http.StatusConflict, keycloak.CodeNotAGuest)
}

func TestRefreshEdgeCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	var ae *auth.Error
	if _, _, err := p.Refresh(ctx, ""); !errors.As(err, &ae) || ae.Code != auth.CodeMissingToken {
		t.Fatalf("empty refresh token: %v", err)
	}
	_, _, err := p.Refresh(ctx, "not-a-token")
	wantInvalidToken(t, err)

	toks, _, err := p.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.FailNext(keycloaktest.Match{Grant: "refresh_token"}, http.StatusInternalServerError)
	_, _, err = p.Refresh(ctx, toks.RefreshToken)
	pr := wantProblem(t, err, http.StatusBadGateway, keycloak.CodeIdentityError)
	if strings.Contains(pr.Error(), toks.RefreshToken) {
		t.Fatal("error shows the refresh token")
	}
	// The refused call did not use the token up.
	if _, _, err := p.Refresh(ctx, toks.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

// realmWith returns the shipped realm file changed by edit.
func realmWith(t *testing.T, edit func(map[string]any)) []byte {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal(assets.RealmJSON, &r); err != nil {
		t.Fatal(err)
	}
	edit(r)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConcurrentGuests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keycloaktest.New(t, keycloaktest.Options{})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	const n = 16
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			toks, acct, err := p.Guest(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if pr, err := p.Verifier().Verify(ctx, toks.AccessToken); err != nil || pr.ID != acct.ID {
				t.Errorf("verify: %+v, %v", pr, err)
			}
			ids <- acct.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != n || len(s.Users()) != n {
		t.Fatalf("%d distinct guests, %d users; want %d", len(seen), len(s.Users()), n)
	}
	if c := s.TokenCalls("client_credentials"); c != 1 {
		t.Fatalf("%d client_credentials grants, want 1", c)
	}
}

// TestGuestCleanupWhenClientLeaves: the caller's context ends mid-creation;
// the user is deleted anyway.
func TestGuestCleanupWhenClientLeaves(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := keycloaktest.New(t, keycloaktest.Options{Fail: func(r *http.Request) int {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/role-mappings/realm") {
			cancel()
			time.Sleep(20 * time.Millisecond) // let the client see its context end
		}
		return 0
	}})
	p := newProvider(t, s, keycloak.GuestGrantTokenExchange)
	_, _, err := p.Guest(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Guest = %v, want it to wrap context.Canceled", err)
	}
	if users := s.Users(); len(users) != 0 {
		t.Fatalf("guest left behind after the client left: %+v", users)
	}
}

// The browser sign-in against the double: authorization code with PKCE
// S256 on the llm-api client; the double checks client, redirect and
// verifier, and a code works once.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const callback = "http://jan.example.com/auth/callback"
	s := keycloaktest.New(t, keycloaktest.Options{PublicURL: "http://jan.example.com"})
	p := newProvider(t, s, keycloak.GuestGrantPassword)
	toks, _, err := p.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := p.Verifier().Verify(ctx, toks.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Upgrade(ctx, pr, auth.Upgrade{Username: "alice", Email: "alice@example.com", Password: "correct horse 9"}); err != nil {
		t.Fatal(err)
	}
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// authorize follows the authorization URL as a browser would, signing
	// in with the login form, and returns where it was sent.
	authorize := func(authURL string) *url.URL {
		t.Helper()
		res, err := noRedirect.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK { // the login form
			form := url.Values{"username": {"alice"}, "password": {"correct horse 9"}}
			for k, v := range res.Request.URL.Query() {
				form[k] = v
			}
			if res, err = noRedirect.PostForm(strings.Split(authURL, "?")[0], form); err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
		if res.StatusCode != http.StatusFound {
			t.Fatalf("authorization endpoint: %d", res.StatusCode)
		}
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	authURL := p.AuthCodeURL(callback, "st4te", challenge)
	u, _ := url.Parse(authURL)
	if q := u.Query(); q.Get("client_id") != "llm-api" || q.Get("response_type") != "code" || q.Get("scope") != "openid" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != challenge || q.Get("redirect_uri") != callback {
		t.Fatalf("authorization URL %s", authURL)
	}
	loc := authorize(authURL)
	code := loc.Query().Get("code")
	if loc.Scheme+"://"+loc.Host+loc.Path != callback || loc.Query().Get("state") != "st4te" || code == "" {
		t.Fatalf("redirected to %s", loc)
	}
	// The wrong verifier is refused, and the code is then spent.
	if _, _, err := p.ExchangeCode(ctx, code, callback, strings.Repeat("w", 43)); !isGrantError(err) {
		t.Fatalf("a wrong code_verifier: %v", err)
	}
	if _, _, err := p.ExchangeCode(ctx, code, callback, verifier); !isGrantError(err) {
		t.Fatalf("a code used once already: %v", err)
	}

	// With the browser signed in: a code at once, traded once.
	s.SignInBrowser("alice")
	code = authorize(p.AuthCodeURL(callback, "again", challenge)).Query().Get("code")
	if _, _, err := p.ExchangeCode(ctx, code, "http://jan.example.com/elsewhere", verifier); !isGrantError(err) {
		t.Fatalf("another redirect_uri at the token endpoint: %v", err)
	}
	code = authorize(p.AuthCodeURL(callback, "again", challenge)).Query().Get("code")
	got, acct, err := p.ExchangeCode(ctx, code, callback, verifier)
	if err != nil || acct.Username != "alice" || acct.Guest || got.AccessToken == "" || got.RefreshToken == "" {
		t.Fatalf("exchange: %+v %+v %v", got, acct, err)
	}
	if _, _, err := p.ExchangeCode(ctx, code, callback, verifier); !isGrantError(err) {
		t.Fatalf("replaying a code: %v", err)
	}

	// The authorization endpoint refuses a redirect the client does not
	// list, and a request without PKCE (the client requires S256).
	res, err := noRedirect.Get(p.AuthCodeURL("https://evil.example.com/cb", "x", challenge))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("a redirect_uri not registered: %d", res.StatusCode)
	}
	plain := strings.Replace(p.AuthCodeURL(callback, "x", challenge), "code_challenge_method=S256", "", 1)
	if loc := authorize(plain); loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
		t.Errorf("no code_challenge_method: sent to %s", loc)
	}
}

func isGrantError(err error) bool {
	var ae *auth.Error
	return errors.As(err, &ae) && ae.Code == "invalid_grant"
}
