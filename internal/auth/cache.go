package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers tokens that already passed verification, keyed by the
// SHA-256 of the raw token, until they expire. A client sends the same bearer
// token on every request, so a hit saves an RSA verify and two JSON parses.
// Only successful verifications are cached; a cached principal is exactly
// what verifying the token again would return until its exp.
type tokenCache struct {
	mu  sync.Mutex
	max int
	now func() time.Time
	m   map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	p   *Principal
	exp time.Time
}

// newTokenCache returns a cache of at most max entries; max <= 0 disables
// caching (a nil cache is valid and never hits).
func newTokenCache(max int, now func() time.Time) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, now: now, m: make(map[[sha256.Size]byte]cacheEntry)}
}

func (c *tokenCache) get(key [sha256.Size]byte) (*Principal, bool) {
	if c == nil {
		return nil, false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.exp) {
		delete(c.m, key)
		return nil, false
	}
	return e.p, true
}

func (c *tokenCache) put(key [sha256.Size]byte, p *Principal, exp time.Time) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[key] = cacheEntry{p: p, exp: exp}
}

// evict drops expired entries and, if that is not enough, arbitrary ones
// down to three quarters of the bound, so a full cache costs one sweep per
// max/4 inserts rather than one per insert.
func (c *tokenCache) evict(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.exp) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max*3/4 {
			break
		}
		delete(c.m, k)
	}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
