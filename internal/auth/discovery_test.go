package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// servedIssuer runs an issuer's discovery and JWKS handlers on an httptest
// server whose URL is the issuer URL.
func servedIssuer(t *testing.T) (*fixture, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := newFixtureAt(t, srv.URL, writeTestKey(t))
	f.clock.Set(time.Now()) // NewOIDCVerifier checks exp against the real clock
	mux.Handle("GET "+DiscoveryPath, f.iss.DiscoveryHandler())
	mux.Handle("GET "+JWKSPath, f.iss.JWKSHandler())
	return f, srv
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	f, srv := servedIssuer(t)

	var doc struct {
		Issuer     string   `json:"issuer"`
		JWKSURI    string   `json:"jwks_uri"`
		TokenURL   string   `json:"token_endpoint"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		Subjects   []string `json:"subject_types_supported"`
		Responses  []string `json:"response_types_supported"`
		GrantTypes []string `json:"grant_types_supported"`
	}
	getJSON(t, srv.URL+DiscoveryPath, &doc)
	if doc.Issuer != srv.URL || doc.JWKSURI != srv.URL+JWKSPath || doc.TokenURL != srv.URL+TokenPath ||
		!slices.Equal(doc.Algs, []string{"RS256"}) || len(doc.Subjects) == 0 || len(doc.Responses) == 0 ||
		!slices.Contains(doc.GrantTypes, "refresh_token") {
		t.Fatalf("discovery document = %+v", doc)
	}

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	getJSON(t, doc.JWKSURI, &set)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["n"] == "" || k["e"] == "" {
		t.Fatalf("JWK = %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Fatalf("JWKS publishes private parameter %q", private)
		}
	}
	// RFC 7638: SHA-256 over the required members in lexicographic order.
	sum := sha256.Sum256([]byte(`{"e":"` + k["e"] + `","kty":"RSA","n":"` + k["n"] + `"}`))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k["kid"] != want {
		t.Fatalf("kid = %q, want RFC 7638 thumbprint %q", k["kid"], want)
	}
	if k["kid"] != f.kid(t) {
		t.Fatal("JWKS kid differs from the signing kid")
	}
}

// NewOIDCVerifier, the Keycloak-mode path, verifies the embedded issuer's
// tokens through discovery and a remote JWKS.
func TestRemoteVerifierAgainstIssuer(t *testing.T) {
	t.Parallel()
	f, srv := servedIssuer(t)
	ctx := context.Background()
	tok, u, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		t.Fatal(err)
	}
	expiredClaims := f.claims()
	expiredClaims["exp"] = time.Now().Add(-time.Minute).Unix()
	expired := signJWT(t, f.key(t), f.kid(t), expiredClaims)
	wrongIss := f.claims()
	wrongIss["iss"] = testURL

	tests := []struct {
		name     string
		audience string
		token    string
		code     string
	}{
		{"valid", "jan", tok.AccessToken, ""},
		{"audience check skipped", "", tok.AccessToken, ""},
		{"wrong audience", "llm-api", tok.AccessToken, CodeInvalidToken},
		{"other issuer", "jan", signJWT(t, f.key(t), f.kid(t), wrongIss), CodeInvalidToken},
		{"other key, same kid", "jan", signJWT(t, otherKey, f.kid(t), f.claims()), CodeInvalidToken},
		{"other key, unknown kid", "jan", signJWT(t, otherKey, "nope", f.claims()), CodeInvalidToken},
		{"expired", "jan", expired, CodeExpiredToken},
		{"garbage", "jan", "a.b.c", CodeInvalidToken},
		{"missing", "jan", "", CodeMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewOIDCVerifier(ctx, nil, srv.URL, tt.audience)
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(ctx, tt.token)
			if authCode(err) != tt.code {
				t.Fatalf("Verify = %+v, %v; want code %q", p, err, tt.code)
			}
			if tt.code == "" && (p.ID != u.ID || p.Username != u.Username || !p.IsGuest || p.AuthMethod != MethodJWT) {
				t.Fatalf("principal = %+v, user %+v", p, u)
			}
		})
	}
}

func TestRemoteVerifierNeedsReachableIssuer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	if _, err := NewOIDCVerifier(context.Background(), nil, srv.URL, "jan"); err == nil {
		t.Fatal("NewOIDCVerifier succeeded against a closed server")
	}
}

// UsernameClaim: an external issuer's username comes from the claim named
// (Entra ID's upn, Google's email), not preferred_username; a token without
// that claim has none.
func TestRemoteVerifierUsernameClaim(t *testing.T) {
	t.Parallel()
	f, srv := servedIssuer(t)
	ctx := context.Background()
	for _, c := range []struct {
		claim, want string
		extra       map[string]any
	}{
		{"", "alice", nil},
		{"preferred_username", "alice", nil},
		{"email", "alice@example.com", map[string]any{"email": "alice@example.com"}},
		{"upn", "", map[string]any{"email": "alice@example.com"}},
		{"email", "", map[string]any{"email": 42}},
	} {
		claims := f.claims()
		for k, v := range c.extra {
			claims[k] = v
		}
		v, err := NewOIDCVerifier(ctx, nil, srv.URL, "jan", UsernameClaim(c.claim))
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(ctx, signJWT(t, f.key(t), f.kid(t), claims))
		if err != nil || p.Username != c.want || p.ID != "user_1" {
			t.Errorf("claim %q: %+v, %v; want username %q", c.claim, p, err, c.want)
		}
	}
}
