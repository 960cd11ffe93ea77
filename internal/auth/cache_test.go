package auth

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func TestTokenCache(t *testing.T) {
	t.Parallel()
	c := newClock()
	cache := newTokenCache(100, c.Now)
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	p := &Principal{ID: "user_1"}

	cache.put(key(0), p, c.Now().Add(time.Minute))
	if got, ok := cache.get(key(0)); !ok || got != p {
		t.Fatal("fresh entry missed")
	}
	c.Advance(time.Minute)
	if _, ok := cache.get(key(0)); ok {
		t.Fatal("entry served at its exp")
	}
	if cache.len() != 0 {
		t.Fatal("expired entry kept after a miss")
	}

	// Bounded: many live entries never grow it past max.
	for i := range 1000 {
		cache.put(key(i), p, c.Now().Add(time.Hour))
		if n := cache.len(); n > 100 {
			t.Fatalf("cache holds %d entries after %d puts, bound 100", n, i+1)
		}
	}
	if _, ok := cache.get(key(999)); !ok {
		t.Fatal("the newest entry was evicted")
	}

	// Expired entries are what a full cache drops first.
	for i := 1000; cache.len() < 100; i++ {
		cache.put(key(i), p, c.Now().Add(time.Hour))
	}
	c.Advance(2 * time.Hour)
	cache.put(key(-1), p, c.Now().Add(time.Hour))
	if cache.len() != 1 {
		t.Fatalf("a put into a full cache of expired entries left %d entries, want 1", cache.len())
	}
}

func TestDisabledCache(t *testing.T) {
	t.Parallel()
	var cache *tokenCache = newTokenCache(0, time.Now)
	cache.put([sha256.Size]byte{}, &Principal{}, time.Now().Add(time.Hour))
	if _, ok := cache.get([sha256.Size]byte{}); ok {
		t.Fatal("disabled cache hit")
	}
}
