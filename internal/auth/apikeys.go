package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/janhq/jan/internal/store"
)

// APIKeyPrefix starts every jan API key, so a key is recognisable in a
// bearer header, a config file or a leaked log.
const APIKeyPrefix = "jan_"

// IsAPIKey reports whether a credential looks like a jan API key.
func IsAPIKey(s string) bool { return strings.HasPrefix(s, APIKeyPrefix) }

// NewAPIKey makes a key: the secret to show once, the hash to store, and a
// short prefix to tell keys apart.
func NewAPIKey() (secret, hash, prefix string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", err
	}
	secret = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashAPIKey(secret), secret[:len(APIKeyPrefix)+6], nil
}

func hashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// APIKeyStore is the part of store.Store API keys need.
type APIKeyStore interface {
	APIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error)
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// APIKeys verifies API keys. A key found in the store is cached for a short
// while so a request costs microseconds; Forget drops a deleted key at once
// (other replicas notice within the cache TTL).
type APIKeys struct {
	store APIKeyStore
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey // by hash
}

type cachedKey struct {
	p       *Principal
	id      string
	expires time.Time  // of this cache entry
	until   *time.Time // the key's own expiry; nil: never
	touched time.Time
}

// NewAPIKeys verifies keys against st.
func NewAPIKeys(st APIKeyStore) *APIKeys {
	return &APIKeys{store: st, ttl: 30 * time.Second, now: time.Now, cache: map[string]cachedKey{}}
}

var (
	errBadKey     = &Error{Code: "invalid_api_key", Message: "invalid API key"}
	errExpiredKey = &Error{Code: "key_expired", Message: "this API key has expired; create a new one"}
)

// Verify returns the key owner's principal (AuthMethod api_key).
func (k *APIKeys) Verify(ctx context.Context, secret string) (*Principal, error) {
	if !IsAPIKey(secret) || len(secret) > 128 {
		return nil, errBadKey
	}
	hash := hashAPIKey(secret)
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[hash]
	k.mu.Unlock()
	if ok && now.Before(c.expires) {
		if c.until != nil && !now.Before(*c.until) {
			return nil, errExpiredKey
		}
		k.touch(c, now)
		return c.p, nil
	}
	key, err := k.store.APIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	// The lookup was by hash; compare it again in constant time anyway, so
	// no path depends on where two hashes differ.
	if subtle.ConstantTimeCompare([]byte(key.Hash), []byte(hash)) != 1 {
		return nil, errBadKey
	}
	if key.ExpiresAt != nil && !now.Before(*key.ExpiresAt) {
		return nil, errExpiredKey
	}
	p := &Principal{ID: key.UserID, Username: key.Username, Scopes: key.Scopes, AuthMethod: MethodAPIKey}
	c = cachedKey{p: p, id: key.ID, expires: now.Add(k.ttl), until: key.ExpiresAt}
	if key.LastUsedAt != nil {
		c.touched = *key.LastUsedAt
	}
	k.mu.Lock()
	if len(k.cache) > 10000 {
		clear(k.cache) // bounded: a flood of distinct keys cannot grow it
	}
	k.cache[hash] = c
	k.mu.Unlock()
	k.touch(c, now)
	return p, nil
}

// touch records last_used_at at most once a minute per key, off the
// request path.
func (k *APIKeys) touch(c cachedKey, now time.Time) {
	if now.Sub(c.touched) < time.Minute {
		return
	}
	k.mu.Lock()
	for h, e := range k.cache {
		if e.id == c.id {
			e.touched = now
			k.cache[h] = e
		}
	}
	k.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = k.store.TouchAPIKey(ctx, c.id, now)
	}()
}

// Forget drops a key from the cache (after it is deleted).
func (k *APIKeys) Forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for h, e := range k.cache {
		if e.id == id {
			delete(k.cache, h)
		}
	}
}
