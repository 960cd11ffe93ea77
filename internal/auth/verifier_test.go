package auth

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

func TestForgedTokensAreInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key, kid := f.key(t), f.kid(t)
	good, _, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) map[string]any {
		c := f.claims()
		c[k] = v
		return c
	}
	parts := strings.Split(good.AccessToken, ".")

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", b64JSON(t, map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64JSON(t, f.claims()) + "."},
		{"HS256 keyed with the public key", hs256(t, kid, publicPEM(t, &key.PublicKey), f.claims())},
		{"other key with the same kid", signJWT(t, other, kid, f.claims())},
		{"wrong issuer", signJWT(t, key, kid, with("iss", "http://evil.example"))},
		{"issuer with trailing slash", signJWT(t, key, kid, with("iss", f.iss.URL()+"/"))},
		{"wrong audience", signJWT(t, key, kid, with("aud", "other"))},
		{"no subject", signJWT(t, key, kid, with("sub", ""))},
		{"ID token, not an access token", signJWT(t, key, kid, with("typ", "ID"))},
		{"not yet valid", signJWT(t, key, kid, with("nbf", f.clock.Now().Add(time.Hour).Unix()))},
		{"payload swapped", parts[0] + "." + b64JSON(t, with("sub", "someone-else")) + "." + parts[2]},
		{"truncated", good.AccessToken[:len(good.AccessToken)-5]},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"garbage", "not-a-jwt"},
		{"three garbage parts", "a.b.c"},
		{"refresh token", good.RefreshToken},
		{"huge", strings.Repeat("a", MaxTokenLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := f.iss.Verifier().Verify(ctx, tt.token)
			if authCode(err) != CodeInvalidToken {
				t.Fatalf("Verify = %+v, %v; want invalid_token", p, err)
			}
			if msg := err.Error(); len(msg) > 40 || strings.Contains(msg, "oidc") {
				t.Fatalf("message leaks internals: %q", msg)
			}
		})
	}

	if _, err := f.iss.Verifier().Verify(ctx, ""); authCode(err) != CodeMissingToken {
		t.Fatalf("empty token: %v, want missing_token", err)
	}
	// An expired forgery is still a forgery, not an expired token.
	expired := with("iss", "http://evil.example")
	expired["exp"] = f.clock.Now().Add(-time.Hour).Unix()
	if _, err := f.iss.Verifier().Verify(ctx, signJWT(t, key, kid, expired)); authCode(err) != CodeInvalidToken {
		t.Fatalf("expired token of another issuer: %v, want invalid_token", err)
	}
}

func hs256(t *testing.T, kid string, secret []byte, claims map[string]any) string {
	t.Helper()
	input := b64JSON(t, map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + b64JSON(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func publicPEM(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Keycloak access tokens carry OIDC scopes, several realm roles, an array
// audience and possibly a string-typed guest claim; they map to the same
// Principal shape as jan's own tokens.
func TestKeycloakShapedClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, kid := f.key(t), f.kid(t)
	tests := []struct {
		name   string
		edit   func(c map[string]any)
		scopes []string
		guest  bool
	}{
		{"guest claim as string", func(c map[string]any) {
			c["scope"] = "openid profile email"
			c["realm_access"] = map[string]any{"roles": []string{"default-roles-jan", "guest"}}
			c["guest"] = "true"
			c["aud"] = []string{"llm-api", "jan"}
		}, []string{"guest"}, true}, // only jan's roles are scopes
		{"guest role without claim", func(c map[string]any) {
			c["scope"] = ""
			c["realm_access"] = map[string]any{"roles": []string{"guest"}}
		}, []string{"guest"}, true},
		{"user, scope repeated as role", func(c map[string]any) {
			c["guest"] = false
		}, []string{"user"}, false},
		{"no typ claim", func(c map[string]any) {
			delete(c, "typ")
		}, []string{"user"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := f.claims()
			tt.edit(c)
			p, err := f.iss.Verifier().Verify(context.Background(), signJWT(t, key, kid, c))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Scopes, tt.scopes) || p.IsGuest != tt.guest || p.ID != "user_1" || p.Username != "alice" {
				t.Fatalf("principal = %+v, want scopes %v guest %v", p, tt.scopes, tt.guest)
			}
		})
	}
}

func TestVerifiedPrincipalIsACopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tok, _, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := f.iss.Verifier().Verify(ctx, tok.AccessToken)
	p1.ID = "tampered"
	p2, err := f.iss.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil || p2.ID == "tampered" {
		t.Fatalf("second Verify = %+v, %v", p2, err)
	}
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	if p, ok := FromContext(context.Background()); ok || p != nil {
		t.Fatalf("empty context gave %+v", p)
	}
	want := &Principal{ID: "user_1"}
	if p, ok := FromContext(NewContext(context.Background(), want)); !ok || p != want {
		t.Fatalf("FromContext = %+v, %v", p, ok)
	}
	if _, ok := FromContext(NewContext(context.Background(), nil)); ok {
		t.Fatal("nil principal reported as present")
	}
}

// uncachedVerifier verifies with the fixture issuer's key but no cache.
func uncachedVerifier(b *testing.B, f *fixture) Verifier {
	keys := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&f.key(b).PublicKey}}
	return newVerifier(f.iss.URL(), "jan", keys, f.clock.Now, 0)
}

func benchVerify(b *testing.B, v func(f *fixture) Verifier) {
	f := newFixture(b)
	ctx := context.Background()
	tok, _, err := f.iss.Guest(ctx)
	if err != nil {
		b.Fatal(err)
	}
	verifier := v(f)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verifier.Verify(ctx, tok.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	benchVerify(b, func(f *fixture) Verifier { return f.iss.Verifier() })
}

func BenchmarkVerifyUncached(b *testing.B) {
	benchVerify(b, func(f *fixture) Verifier { return uncachedVerifier(b, f) })
}
