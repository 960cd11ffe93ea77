package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/janhq/jan/internal/store"
)

const keyBits = 2048

// loadOrCreateKey returns the RSA signing key stored at path, generating and
// storing a new one if the file does not exist. Several processes starting at
// once all end up with the same key: each writes a complete temp file and
// hard-links it to path, which fails for all but the first; the others then
// read the winner's file. The link never exposes a half-written key.
func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create key directory: %w", err)
	}
	key, err = rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	tmp, err := writeTemp(dir, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return nil, fmt.Errorf("auth: write signing key %s: %w", path, err)
	}
	defer os.Remove(tmp)

	switch err := os.Link(tmp, path); {
	case err == nil:
		return key, nil
	case errors.Is(err, fs.ErrExist):
		return readKey(path) // another process won the race: use its key
	default:
		// No hard links on this filesystem: rename is still atomic, only the
		// rare simultaneous first start may briefly disagree on the key.
		if _, statErr := os.Stat(path); statErr == nil {
			return readKey(path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("auth: store signing key %s: %w", path, err)
		}
		return key, nil
	}
}

// writeTemp writes data to a new 0600 file in dir, synced, and returns its name.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".signing-key-*.tmp")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// readKey reads a PEM RSA private key (PKCS#8 or PKCS#1). A missing file
// gives an error wrapping fs.ErrNotExist; anything unusable names the path
// and what to do.
func readKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}
	return parseKey(data, path)
}

// parseKey reads a PEM RSA private key; source names it in errors.
func parseKey(data []byte, source string) (*rsa.PrivateKey, error) {
	corrupt := func(why string) error {
		return fmt.Errorf("auth: signing key %s is unusable (%s); fix or delete it to generate a new key (tokens already issued will stop working)", source, why)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, corrupt("no PEM block")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, corrupt(fmt.Sprintf("PEM type %q, want PRIVATE KEY", block.Type))
	}
	if err != nil {
		return nil, corrupt("malformed key")
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, corrupt(fmt.Sprintf("%T, want an RSA key", parsed))
	}
	if key.N.BitLen() < keyBits {
		return nil, corrupt(fmt.Sprintf("%d-bit RSA, want at least %d", key.N.BitLen(), keyBits))
	}
	if err := key.Validate(); err != nil {
		return nil, corrupt("inconsistent RSA key")
	}
	return key, nil
}

// KeyStore keeps the issuer's signing keys in the database, so every
// replica signs and verifies with the same keys (store.Store is one).
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	AddSigningKey(ctx context.Context, k *store.SigningKey) error
	RotateSigningKey(ctx context.Context, oldKID string, k *store.SigningKey) error
	PruneSigningKeys(ctx context.Context, retiredBefore time.Time) (int64, error)
}

// keyring is the issuer's keys at one moment: the active key signs, every
// key in verify checks signatures, jwks publishes them.
type keyring struct {
	signer  jose.Signer
	kid     string    // the active key's
	created time.Time // when the active key was made
	verify  map[string]*rsa.PublicKey
	jwks    []byte
}

// newKeyring makes a ring that signs with active and verifies with it and
// others.
func newKeyring(active *rsa.PrivateKey, created time.Time, others ...*rsa.PublicKey) (*keyring, error) {
	kid, err := keyID(&active.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("auth: key id: %w", err)
	}
	r := &keyring{kid: kid, created: created, verify: map[string]*rsa.PublicKey{}}
	r.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: active, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("auth: signer: %w", err)
	}
	var set jose.JSONWebKeySet // every key that verifies: tokens of an older key stay valid
	for _, pub := range append([]*rsa.PublicKey{&active.PublicKey}, others...) {
		id, err := keyID(pub)
		if err != nil {
			return nil, fmt.Errorf("auth: key id: %w", err)
		}
		if r.verify[id] == nil {
			r.verify[id] = pub
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: id, Algorithm: string(jose.RS256), Use: "sig"})
		}
	}
	if r.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("auth: encode JWKS: %w", err)
	}
	return r, nil
}

// loadKeyring reads the keys in ks into a ring; nil when there is no
// active key yet.
func loadKeyring(ctx context.Context, ks KeyStore) (*keyring, error) {
	keys, err := ks.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: read signing keys: %w", err)
	}
	if len(keys) == 0 || !keys[0].Active {
		return nil, nil
	}
	active, err := parseKey([]byte(keys[0].PEM), "in the database ("+keys[0].KID+")")
	if err != nil {
		return nil, err
	}
	var others []*rsa.PublicKey
	for _, k := range keys[1:] {
		key, err := parseKey([]byte(k.PEM), "in the database ("+k.KID+")")
		if err != nil {
			return nil, err
		}
		others = append(others, &key.PublicKey)
	}
	return newKeyring(active, keys[0].CreatedAt, others...)
}

// sharedKeys returns the ring of the keys in ks. The first start on a
// database puts a key there: the key file's, when there is one (tokens it
// signed keep working after the move), else a new one; replicas starting
// at once agree on one (the others' inserts conflict and they read the
// winner's).
func sharedKeys(ctx context.Context, ks KeyStore, keyFile string, now time.Time) (*keyring, error) {
	for range 3 {
		ring, err := loadKeyring(ctx, ks)
		if err != nil || ring != nil {
			return ring, err
		}
		key, err := readKey(keyFile)
		if errors.Is(err, fs.ErrNotExist) {
			key, err = rsa.GenerateKey(rand.Reader, keyBits)
		}
		if err != nil {
			return nil, err
		}
		k, err := storedKey(key, now)
		if err != nil {
			return nil, err
		}
		err = ks.AddSigningKey(ctx, k)
		switch {
		case err == nil:
			return newKeyring(key, k.CreatedAt)
		case !errors.Is(err, store.ErrConflict):
			return nil, fmt.Errorf("auth: store signing key: %w", err)
		}
		// Another replica stored its key first: read it.
	}
	return nil, errors.New("auth: could not agree on a signing key with the other replicas")
}

// storedKey is key as the database keeps it.
func storedKey(key *rsa.PrivateKey, created time.Time) (*store.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	kid, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{KID: kid, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), CreatedAt: created}, nil
}

// keyID is the RFC 7638 JWK thumbprint of pub, base64url: stable for a key
// and the same value any JOSE library computes.
func keyID(pub *rsa.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
