package server

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
)

// A burst beyond the bucket gets 429 with OpenAI's headers, and recovers.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{limits: &RateLimits{Guest: RateLimit{PerMinute: 600, Burst: 3}}})
	tok := e.guest()
	for i := 0; i < 3; i++ {
		r := e.do("GET", "/v1/models", tok, nil, nil)
		if r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if got := r.header.Get("X-Ratelimit-Remaining-Requests"); got != strconv.Itoa(2-i) {
			t.Errorf("request %d: remaining = %q, want %d", i, got, 2-i)
		}
		if r.header.Get("X-Ratelimit-Limit-Requests") != "600" || r.header.Get("X-Ratelimit-Reset-Requests") == "" {
			t.Errorf("headers = %v", r.header)
		}
	}
	r := e.do("GET", "/v1/models", tok, nil, nil)
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limit_exceeded" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("burst: %d %v %s", r.status, r.header, r.body)
	}
	// Another principal has its own bucket.
	if r := e.do("GET", "/v1/models", e.guest(), nil, nil); r.status != 200 {
		t.Errorf("other guest: %d", r.status)
	}
	time.Sleep(150 * time.Millisecond) // 10 tokens/s: one is back
	if r := e.do("GET", "/v1/models", tok, nil, nil); r.status != 200 {
		t.Errorf("after the refill: %d %s", r.status, r.body)
	}
}

// A principal may hold only so many streams at once.
func TestStreamLimit(t *testing.T) {
	e := newEnv(t, envOptions{limits: &RateLimits{Guest: RateLimit{Streams: 1}},
		engine: fakeengine.Options{Tokens: 100, TokenDelay: 10 * time.Millisecond}})
	tok := e.guest()
	body := map[string]any{"model": testModel, "stream": true, "messages": []map[string]string{{"role": "user", "content": "hi"}}}
	next, _, closeStream := e.openStream("/v1/chat/completions", tok, body)
	next()
	r := e.do("POST", "/v1/chat/completions", tok, body, nil)
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "too_many_streams" {
		t.Fatalf("second stream: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/models", tok, nil, nil); r.status != 200 {
		t.Errorf("a plain request while streaming: %d", r.status)
	}
	closeStream()
	deadline := time.Now().Add(2 * time.Second)
	for {
		body["messages"] = []map[string]string{{"role": "user", "content": "hi [fake:tokens=2]"}}
		r := e.do("POST", "/v1/chat/completions", tok, body, nil)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream slot was not released: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]RateLimit{"60:30:2": {60, 30, 2}, "off": {}, "10:0:0": {10, 1, 0}} {
		if got, err := ParseRateLimit(in); err != nil || got != want {
			t.Errorf("%q → %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "1:2", "-1:1:1"} {
		if _, err := ParseRateLimit(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
