package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestJWKSLimiter(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/other" {
			io.WriteString(w, "other")
			return
		}
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"keys":[]}`)
	}))
	defer srv.Close()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := &jwksLimiter{base: http.DefaultTransport, url: srv.URL + "/certs", now: clock.Now}
	hc := &http.Client{Transport: l}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Concurrent first requests share one fetch.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if code, body := get("/certs"); code != 200 || body != `{"keys":[]}` {
				t.Errorf("got %d %q", code, body)
			}
		})
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent first requests, want 1", n)
	}
	for range 100 {
		get("/certs")
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the interval, want 1", n)
	}
	if _, body := get("/other"); body != "other" {
		t.Fatal("other URLs must pass through")
	}

	clock.Add(jwksRefetchInterval)
	get("/certs")
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the interval, want 2", n)
	}

	// Keycloak down: the cached set keeps answering, retried once per interval.
	down.Store(true)
	clock.Add(jwksRefetchInterval)
	for range 10 {
		if code, body := get("/certs"); code != 200 || body != `{"keys":[]}` {
			t.Fatalf("while down: %d %q, want the cached set", code, body)
		}
	}
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches while down, want 3", n)
	}
}

func TestJWKSLimiterNothingCachedYet(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := &jwksLimiter{base: http.DefaultTransport, url: srv.URL, now: clock.Now}
	hc := &http.Client{Transport: l}
	for range 50 {
		if resp, err := hc.Get(srv.URL); err == nil {
			resp.Body.Close()
			t.Fatal("a failed fetch must be an error, not a cached answer")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d attempts within a second, want 1", n)
	}
	clock.Add(jwksFailedRetry)
	hc.Get(srv.URL)
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2 after the retry delay", n)
	}
}
