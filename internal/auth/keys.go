package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
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
	corrupt := func(why string) error {
		return fmt.Errorf("auth: signing key %s is unusable (%s); fix or delete it to generate a new key (tokens already issued will stop working)", path, why)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, corrupt("no PEM block")
	}
	var parsed any
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

// keyID is the RFC 7638 JWK thumbprint of pub, base64url: stable for a key
// and the same value any JOSE library computes.
func keyID(pub *rsa.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
