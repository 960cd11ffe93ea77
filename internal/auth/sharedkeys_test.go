package auth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
	active, all, err := sharedKeys(ctx, ks, file)
	if err != nil {
		t.Fatal(err)
	}
	if !active.Equal(fileKey) || len(all) != 1 {
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
			k, _, err := sharedKeys(ctx, ks, filepath.Join(t.TempDir(), "none.pem"))
			if err != nil {
				t.Error(err)
				return
			}
			got[i], _ = keyID(&k.PublicKey)
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
