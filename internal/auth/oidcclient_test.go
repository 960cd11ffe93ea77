package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProvider is an OpenID provider's token side: discovery, keys, the
// token endpoint (authorization_code with PKCE, refresh_token) and
// revocation. Its tokens are signed by the fixture's key.
type fakeProvider struct {
	*fixture
	srv *httptest.Server

	mu         sync.Mutex
	opaque     bool   // access tokens are not JWTs; an ID token comes beside them
	fail       int    // the token endpoint answers this status
	secret     string // "" for a public client
	challenge  string // the PKCE challenge the code was issued for
	revoked    []url.Values
	refreshed  []string // refresh tokens the token endpoint was given
	discovered int      // discovery documents served
	methods    []string // code_challenge_methods_supported
}

const fakeClientID = "jan-web"

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	p := &fakeProvider{methods: []string{"plain", "S256"}}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.fixture = newFixtureAt(t, p.srv.URL, writeTestKey(t))
	p.clock.Set(time.Now())
	mux.Handle("GET "+JWKSPath, p.iss.JWKSHandler())
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.discovered++
		writeJSONForTest(w, http.StatusOK, map[string]any{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + JWKSPath,
			"authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"revocation_endpoint": p.srv.URL + "/revoke", "code_challenge_methods_supported": p.methods,
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("POST /token", p.token(t))
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		defer p.mu.Unlock()
		f := r.PostForm
		if id, _, ok := r.BasicAuth(); ok {
			f.Set("basic", id)
		}
		p.revoked = append(p.revoked, f)
	})
	return p
}

func writeJSONForTest(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *fakeProvider) token(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.fail != 0 {
			writeJSONForTest(w, p.fail, map[string]string{"error": "server_error"})
			return
		}
		_ = r.ParseForm()
		f := r.PostForm
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = f.Get("client_id"), f.Get("client_secret")
		}
		if id != fakeClientID || secret != p.secret {
			writeJSONForTest(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
			return
		}
		switch f.Get("grant_type") {
		case "authorization_code":
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if f.Get("code") != "good-code" || base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge || f.Get("redirect_uri") != "http://jan.test/auth/callback" {
				writeJSONForTest(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
				return
			}
			p.answer(t, w, "rt-1")
		case "refresh_token":
			p.refreshed = append(p.refreshed, f.Get("refresh_token"))
			if f.Get("refresh_token") != "rt-1" {
				writeJSONForTest(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
				return
			}
			p.answer(t, w, "") // not rotated, as Google does
		default:
			writeJSONForTest(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		}
	}
}

// answer issues tokens for alice: a JWT access token for audience "jan",
// or an opaque one with an ID token for the client.
func (p *fakeProvider) answer(t *testing.T, w http.ResponseWriter, refresh string) {
	c := p.claims()
	c["sub"] = "provider-alice"
	body := map[string]any{"token_type": "Bearer", "expires_in": 3599}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	if p.opaque {
		body["access_token"] = "ya29.opaque-access-token"
		c["aud"] = fakeClientID
		c["exp"] = time.Now().Add(30 * time.Minute).Unix()
		body["id_token"] = signJWT(t, p.key(t), p.kid(t), c)
	} else {
		body["access_token"] = signJWT(t, p.key(t), p.kid(t), c)
	}
	writeJSONForTest(w, http.StatusOK, body)
}

// signIn runs the client's half of a browser sign-in: the URL, then the
// code the browser would bring back.
func (p *fakeProvider) signIn(t *testing.T, c *OIDCClient, code string) (*Tokens, *Account, error) {
	t.Helper()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	u, err := url.Parse(c.AuthCodeURL("http://jan.test/auth/callback", "st", challenge))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{"client_id": fakeClientID, "redirect_uri": "http://jan.test/auth/callback", "state": "st",
		"code_challenge": challenge, "code_challenge_method": "S256", "response_type": "code", "scope": "openid profile email"} {
		if q.Get(k) != want {
			t.Errorf("authorization URL %s: %s=%q, want %q", u, k, q.Get(k), want)
		}
	}
	if u.Path != "/authorize" {
		t.Errorf("authorization URL %s: not the provider's authorization endpoint", u)
	}
	p.mu.Lock()
	p.challenge = challenge
	p.mu.Unlock()
	return c.ExchangeCode(context.Background(), code, "http://jan.test/auth/callback", verifier)
}

func (p *fakeProvider) client(t *testing.T, audience string) *OIDCClient {
	t.Helper()
	ext, err := NewExternal(context.Background(), nil, p.srv.URL, audience, OIDCClientOptions{ClientID: fakeClientID, ClientSecret: p.secret})
	if err != nil {
		t.Fatal(err)
	}
	return ext.Client
}

func problemStatus(err error) int {
	var p *Problem
	if errors.As(err, &p) {
		return p.Status
	}
	return 0
}

// The browser sign-in at an external provider: the code is traded with
// the PKCE verifier, and what comes back is a token jan's verifier
// accepts — the access token, or the ID token when the access token is
// opaque — never one it would refuse on the next request.
func TestOIDCClientSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newFakeProvider(t)

	c := p.client(t, "jan")
	if p.discovered != 1 {
		t.Errorf("the verifier and the client fetched the discovery document %d times, want once", p.discovered)
	}
	tok, acct, err := p.signIn(t, c, "good-code")
	if err != nil {
		t.Fatal(err)
	}
	if pr, err := c.v.Verify(ctx, tok.AccessToken); err != nil || pr.ID != "provider-alice" || acct.ID != "provider-alice" || acct.Username != "alice" {
		t.Fatalf("signed in: %+v %+v, verify: %+v %v", tok, acct, pr, err)
	}
	if tok.RefreshToken != "rt-1" || tok.ExpiresIn < 3500 || tok.ExpiresIn > 3599 {
		t.Errorf("tokens: refresh %q, expires_in %d", tok.RefreshToken, tok.ExpiresIn)
	}
	if _, _, err := p.signIn(t, c, "used-code"); authCode(err) != "invalid_grant" {
		t.Errorf("a refused code: %v, want invalid_grant", err)
	}

	// Refresh: the provider keeps the refresh token; a refused one says
	// sign in again.
	tok2, _, err := c.Refresh(ctx, "rt-1")
	if err != nil || tok2.RefreshToken != "rt-1" || tok2.AccessToken == "" {
		t.Fatalf("refresh: %+v %v", tok2, err)
	}
	if _, _, err := c.Refresh(ctx, "rt-revoked"); authCode(err) != CodeInvalidToken || !strings.Contains(err.Error(), "sign in again") {
		t.Errorf("a refused refresh token: %v", err)
	}

	// Opaque access tokens (Google's): with the audience set to the client
	// id, the ID token is the bearer.
	p.mu.Lock()
	p.opaque = true
	p.mu.Unlock()
	cid := p.client(t, fakeClientID)
	tok3, _, err := p.signIn(t, cid, "good-code")
	if err != nil || strings.HasPrefix(tok3.AccessToken, "ya29.") || tok3.ExpiresIn < 1700 || tok3.ExpiresIn > 1800 {
		t.Fatalf("opaque access token: %+v %v", tok3, err)
	}
	if _, err := cid.v.Verify(ctx, tok3.AccessToken); err != nil {
		t.Errorf("the ID token handed out: %v", err)
	}
	// Neither token is for the audience jan requires: a 502 naming the fix.
	if _, _, err := p.signIn(t, c, "good-code"); problemStatus(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "JAN_OIDC_AUDIENCE to the client id (jan-web)") {
		t.Errorf("tokens jan refuses: %v", err)
	}
}

// The provider failing: 5xx and no answer are 503 (try again), the
// provider refusing the client is 502; a provider without PKCE S256 is
// refused at start.
func TestOIDCClientFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newFakeProvider(t)
	c := p.client(t, "jan")
	p.mu.Lock()
	p.fail = http.StatusServiceUnavailable
	p.mu.Unlock()
	if _, _, err := c.Refresh(ctx, "rt-1"); problemStatus(err) != http.StatusServiceUnavailable {
		t.Errorf("provider 503: %v", err)
	}
	p.mu.Lock()
	p.fail, p.secret = 0, "s3cret" // now a confidential client jan has no secret for
	p.mu.Unlock()
	if _, _, err := c.Refresh(ctx, "rt-1"); problemStatus(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("client refused: %v", err)
	}
	withSecret := p.client(t, "jan")
	if _, _, err := withSecret.Refresh(ctx, "rt-1"); err != nil {
		t.Errorf("a confidential client: %v", err)
	}

	p.mu.Lock()
	p.methods = []string{"plain"}
	p.mu.Unlock()
	if _, err := NewExternal(ctx, nil, p.srv.URL, "jan", OIDCClientOptions{ClientID: fakeClientID}); err == nil || !strings.Contains(err.Error(), "S256") {
		t.Errorf("a provider without S256: %v", err)
	}
	if ext, err := NewExternal(ctx, nil, p.srv.URL, "jan", OIDCClientOptions{}); err != nil || ext.Client != nil || ext.BrowserLogin() != nil {
		t.Errorf("no client id: %+v, %v; want a verifier alone", ext, err)
	}

	p.srv.Close()
	if _, _, err := c.Refresh(ctx, "rt-1"); problemStatus(err) != http.StatusServiceUnavailable {
		t.Errorf("provider down: %v", err)
	}
}

// Beside guests, a refresh token is the own issuer's when it knows it and
// the provider's otherwise; logging out a guest never sends its token to
// the provider; a provider's token is revoked there.
func TestWithGuestsAndAClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newFakeProvider(t)
	c := p.client(t, "")
	own := newFixtureAt(t, "http://jan.test:8080", filepath.Join(t.TempDir(), "own.pem"))
	w := WithGuests{External: External{Issuer: p.srv.URL, V: c.v, Client: c}, Own: own.iss}
	if w.BrowserLogin() == nil || (WithGuests{External: External{Issuer: p.srv.URL, V: c.v}, Own: own.iss}).BrowserLogin() != nil {
		t.Fatal("BrowserLogin: want one exactly when there is a client")
	}

	guest, _, err := w.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok, acct, err := w.Refresh(ctx, guest.RefreshToken); err != nil || acct.Username == "alice" || tok.RefreshToken == guest.RefreshToken {
		t.Fatalf("a guest's refresh: %+v %+v %v", tok, acct, err)
	}
	if tok, acct, err := w.Refresh(ctx, "rt-1"); err != nil || acct.ID != "provider-alice" || tok.RefreshToken != "rt-1" {
		t.Fatalf("the provider's refresh: %+v %+v %v", tok, acct, err)
	}
	if _, _, err := w.Refresh(ctx, "neither"); authCode(err) != CodeInvalidToken {
		t.Errorf("a refresh token neither knows: %v", err)
	}
	// A guest's spent refresh token (a replay) stays with jan.
	if _, _, err := w.Refresh(ctx, guest.RefreshToken); authCode(err) != CodeInvalidToken {
		t.Errorf("a guest's spent refresh token: %v", err)
	}

	g2, _, err := w.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Logout(ctx, g2.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Refresh(ctx, g2.RefreshToken); err == nil {
		t.Error("a logged-out guest's refresh token still works")
	}
	if err := w.Logout(ctx, "rt-1"); err != nil {
		t.Fatal(err)
	}
	// The database down: jan cannot tell whose a token is, so it goes
	// nowhere (it could be a guest's).
	if err := own.users.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Refresh(ctx, "rt-1"); err == nil || authCode(err) == CodeInvalidToken {
		t.Errorf("a refresh with the database down: %v, want the store's error", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.refreshed) != 2 || p.refreshed[0] != "rt-1" || p.refreshed[1] != "neither" {
		t.Errorf("refresh tokens sent to the provider: %q, want only rt-1 and neither (no guest's)", p.refreshed)
	}
	if len(p.revoked) != 1 || p.revoked[0].Get("token") != "rt-1" || p.revoked[0].Get("token_type_hint") != "refresh_token" || p.revoked[0].Get("client_id") != fakeClientID {
		t.Errorf("revoked at the provider: %v (want only rt-1, by the public client)", p.revoked)
	}
}

// A provider's error code is repeated to the client only when it looks
// like one (RFC 6749): not markup, escapes or a novel.
func TestPlainErrorCode(t *testing.T) {
	for code, want := range map[string]bool{"invalid_client": true, "invalid_grant": true, "": false, "<b>x</b>": false,
		"invalid\x1b[2J": false, "Invalid": false, strings.Repeat("a", 65): false} {
		if got := plainErrorCode(code); got != want {
			t.Errorf("plainErrorCode(%q) = %v, want %v", code, got, want)
		}
	}
}
