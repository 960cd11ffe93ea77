package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http/httptest"
	"sync/atomic"

	"crypto/x509"
	"encoding/pem"
	jose "github.com/go-jose/go-jose/v4"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

// memKeys is a KeyStore with the database's rule: one active key.
type memKeys struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

func (m *memKeys) SigningKeys(context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.SigningKey(nil), m.keys...), nil
}

func (m *memKeys) AddSigningKey(_ context.Context, k *store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) > 0 {
		return store.ErrConflict
	}
	k.Active = true
	m.keys = append(m.keys, *k)
	return nil
}

func (m *memKeys) RotateSigningKey(_ context.Context, oldKID string, k *store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) == 0 || m.keys[0].KID != oldKID {
		return store.ErrConflict
	}
	m.keys[0].Active, m.keys[0].RetiredAt = false, &k.CreatedAt
	k.Active = true
	m.keys = append([]store.SigningKey{*k}, m.keys...)
	return nil
}

func (m *memKeys) PruneSigningKeys(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.keys)
	m.keys = slices.DeleteFunc(m.keys, func(k store.SigningKey) bool { return k.RetiredAt != nil && k.RetiredAt.Before(before) })
	return int64(n - len(m.keys)), nil
}

// The first start moves the key file's key into the database (tokens it
// signed keep verifying); replicas starting at once end up on one key.
func TestSharedKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "signing-key.pem")
	fileKey, err := loadOrCreateKey(file)
	if err != nil {
		t.Fatal(err)
	}
	ks := &memKeys{}
	ring, err := sharedKeys(ctx, ks, file, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := keyID(&fileKey.PublicKey); ring.kid != kid || len(ring.verify) != 1 {
		t.Fatalf("the key file's key was not moved to the database")
	}
	block, _ := pem.Decode([]byte(ks.keys[0].PEM))
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("stored PEM: %v", err)
	}

	// Four replicas without key files start at once on an empty database.
	ks = &memKeys{}
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Go(func() {
			ring, err := sharedKeys(ctx, ks, filepath.Join(t.TempDir(), "none.pem"), time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = ring.kid
		})
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] || id != ks.keys[0].KID {
			t.Fatalf("replicas disagree on the key: %v (stored %s)", got, ks.keys[0].KID)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.pem")); err == nil {
		t.Error("a key file was written although the database keeps the keys")
	}
}

// countingKeys counts reads of the keys.
type countingKeys struct {
	KeyStore
	reads atomic.Int32
}

func (c *countingKeys) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	c.reads.Add(1)
	return c.KeyStore.SigningKeys(ctx)
}

// Two replicas on one database rotate the signing key every day: the
// replica that rotates signs with the new key at once, the other verifies
// its tokens at once (a token naming an unknown key makes it read the keys
// again), tokens of the old key keep verifying until they expire, replicas
// rotating at once make one new key, and a retired key is deleted once no
// token it signed can be valid.
func TestSigningKeyRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	st := newTestStore(t, c.Now)
	keysB := &countingKeys{KeyStore: st}
	newReplica := func(ks KeyStore) *Issuer {
		iss, err := NewIssuer(IssuerOptions{URL: testURL, KeyFile: filepath.Join(t.TempDir(), "none.pem"), Keys: ks, KeyRotation: 24 * time.Hour, Now: c.Now}, st)
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	a, b := newReplica(st), newReplica(keysB)
	guest := func(iss *Issuer) string {
		t.Helper()
		tok, _, err := iss.Guest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	verifies := func(what string, tok string, on ...*Issuer) {
		t.Helper()
		for i, iss := range on {
			if _, err := iss.Verifier().Verify(ctx, tok); err != nil {
				t.Errorf("%s on replica %d: %v", what, i, err)
			}
		}
	}
	jwks := func(iss *Issuer) (kids []string) {
		rec := httptest.NewRecorder()
		iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", JWKSPath, nil))
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
			t.Fatal(err)
		}
		for _, k := range set.Keys {
			kids = append(kids, k.KeyID)
		}
		return kids
	}

	first := a.keys().kid
	if b.keys().kid != first {
		t.Fatal("the replicas started on different keys")
	}
	if err := a.maintainKeys(ctx); err != nil || a.keys().kid != first {
		t.Fatalf("a key younger than the rotation period was rotated (%v)", err)
	}

	c.Advance(24 * time.Hour)
	old := guest(a) // signed with the first key just before the rotation
	if err := a.maintainKeys(ctx); err != nil {
		t.Fatal(err)
	}
	second := a.keys().kid
	if second == first {
		t.Fatal("the key was not rotated after 24 h")
	}
	fresh := guest(a)
	readsBefore := keysB.reads.Load()
	verifies("a token of the new key", fresh, a, b)
	if keysB.reads.Load() != readsBefore+1 || b.ring.Load().kid != second {
		t.Errorf("the other replica read the keys %d times for a token of a key it did not know; it signs with %s", keysB.reads.Load()-readsBefore, b.ring.Load().kid)
	}
	verifies("a token of the retired key", old, a, b)
	if got := jwks(b); !slices.Equal(got, []string{second, first}) {
		t.Errorf("JWKS after the rotation: %v, want the new key and the retired one", got)
	}

	// A token naming a key nobody has is refused, and reading the keys for
	// such tokens happens at most once a second.
	forged := signJWT(t, mustKey(t), "made-up", map[string]any{"iss": testURL, "aud": "jan", "sub": "x", "exp": c.Now().Add(time.Hour).Unix()})
	readsBefore = keysB.reads.Load()
	for range 20 {
		if _, err := b.Verifier().Verify(ctx, forged); authCode(err) != CodeInvalidToken {
			t.Fatalf("a token of an unknown key: %v", err)
		}
	}
	if n := keysB.reads.Load() - readsBefore; n > 1 {
		t.Errorf("20 tokens of an unknown key read the keys %d times", n)
	}

	// A day later both replicas find the key due at once: one new key.
	c.Advance(24 * time.Hour)
	var wg sync.WaitGroup
	for _, iss := range []*Issuer{a, b} {
		wg.Go(func() {
			if err := iss.maintainKeys(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	third := a.keys().kid
	keys, _ := st.SigningKeys(ctx)
	if third == second || b.keys().kid != third || len(keys) != 2 || keys[0].KID != third || keys[1].KID != second {
		t.Fatalf("after two replicas rotated at once: a %s, b %s, stored %d keys", third, b.keys().kid, len(keys))
	}

	// The retired key goes once its tokens have all expired.
	c.Advance(a.retiredKeep() + time.Second)
	if err := a.maintainKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if got := jwks(a); !slices.Equal(got, []string{third}) {
		t.Errorf("JWKS past the retired key's last token: %v", got)
	}
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	block, _ := pem.Decode(testKeyPEM())
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}
