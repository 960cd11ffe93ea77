package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/janhq/jan/internal/store"
)

// testKeyPEM is one key shared by tests that do not test key creation:
// generating 2048-bit keys under -race is slow.
var testKeyPEM = sync.OnceValue(func() []byte {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
})

const testURL = "http://127.0.0.1:8080"

type fixture struct {
	iss     *Issuer
	users   store.Store
	clock   *clock
	keyFile string
}

// newFixture returns an issuer at testURL over a SQLite store and a fake clock,
// using the shared test key.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureAt(t, testURL, writeTestKey(t))
}

// writeTestKey writes the shared test key to a new key file.
func writeTestKey(t testing.TB) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(keyFile, testKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

func newFixtureAt(t testing.TB, url, keyFile string) *fixture {
	t.Helper()
	c := newClock()
	users := newTestStore(t, c.Now)
	iss, err := NewIssuer(IssuerOptions{URL: url, KeyFile: keyFile, Now: c.Now}, users)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{iss: iss, users: users, clock: c, keyFile: keyFile}
}

// key is the fixture issuer's private key, for forging tokens that differ
// from real ones only where a test says.
func (f *fixture) key(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := readKey(f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fixture) kid(t testing.TB) string {
	t.Helper()
	kid, err := keyID(&f.key(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// claims are valid claims for this fixture's issuer at the fixture's time.
func (f *fixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"iss": f.iss.URL(), "sub": "user_1", "aud": "jan",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"typ": "Bearer", "preferred_username": "alice", "scope": "user",
		"realm_access": map[string]any{"roles": []string{"user"}},
	}
}

// signJWT signs claims with key under alg RS256 and header kid.
func signJWT(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// authCode returns err's *Error code, or "" if err is not an *Error.
func authCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
