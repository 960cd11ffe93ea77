package server

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/janhq/jan/internal/auth"
)

// RateLimit is one role's allowance: a token bucket of requests (PerMinute
// refill, Burst capacity) and a cap on concurrent streams. Zero PerMinute
// means no request limit; zero Streams means no stream limit.
type RateLimit struct {
	PerMinute int
	Burst     int
	Streams   int
}

// RateLimits holds the allowance per role; a principal gets the one of its
// highest role. Address limits the /auth writes (guest, token, refresh,
// upgrade, logout) per client address, before anyone is authenticated: it
// is what keeps one machine from minting guests or guessing passwords in
// bulk (its Streams is unused).
type RateLimits struct {
	Guest, User, Admin RateLimit
	Address            RateLimit
}

// DefaultRateLimits keep a guest to a person's pace and a user well above
// it; an address may sign in, refresh or make a guest once a second on
// average, 30 at once.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Guest:   RateLimit{PerMinute: 120, Burst: 60, Streams: 2},
		User:    RateLimit{PerMinute: 1200, Burst: 240, Streams: 8},
		Admin:   RateLimit{},
		Address: RateLimit{PerMinute: 60, Burst: 30},
	}
}

// ParseAddressLimit reads "PER_MINUTE:BURST" (e.g. "60:30"), or "off".
func ParseAddressLimit(s string) (RateLimit, error) {
	if s == "off" {
		return RateLimit{}, nil
	}
	var l RateLimit
	if _, err := fmt.Sscanf(s, "%d:%d", &l.PerMinute, &l.Burst); err != nil || l.PerMinute < 0 || l.Burst < 0 || strings.Count(s, ":") != 1 {
		return l, fmt.Errorf("rate limit %q: want PER_MINUTE:BURST (e.g. 60:30) or off", s)
	}
	if l.PerMinute > 0 && l.Burst == 0 {
		l.Burst = 1
	}
	return l, nil
}

// ParseRateLimit reads "PER_MINUTE:BURST:STREAMS" (e.g. "60:30:2"), or "off".
func ParseRateLimit(s string) (RateLimit, error) {
	if s == "off" {
		return RateLimit{}, nil
	}
	var l RateLimit
	if _, err := fmt.Sscanf(s, "%d:%d:%d", &l.PerMinute, &l.Burst, &l.Streams); err != nil || l.PerMinute < 0 || l.Burst < 0 || l.Streams < 0 {
		return l, fmt.Errorf("rate limit %q: want PER_MINUTE:BURST:STREAMS (e.g. 60:30:2) or off", s)
	}
	if l.PerMinute > 0 && l.Burst == 0 {
		l.Burst = 1
	}
	return l, nil
}

func (rl RateLimits) forPrincipal(p *auth.Principal) RateLimit {
	switch {
	case slices.Contains(p.Scopes, "admin"):
		return rl.Admin
	case p.IsGuest:
		return rl.Guest
	}
	return rl.User
}

// limiter keeps a bucket per principal, in memory: limits protect this
// process, and a restart forgiving a burst is harmless.
type limiter struct {
	limits  RateLimits
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens  float64
	last    time.Time
	full    time.Time // when tokens are back to the burst: from then on the bucket is as good as new
	streams int
}

func newLimiter(l RateLimits) *limiter {
	return &limiter{limits: l, now: time.Now, buckets: map[string]*bucket{}}
}

// take spends one request token; when none is left it reports how long
// until one is.
func (l *limiter) take(id string, lim RateLimit) (remaining int, reset, retry time.Duration, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(id, lim, now)
	perSec := float64(lim.PerMinute) / 60
	b.tokens = math.Min(float64(lim.Burst), b.tokens+now.Sub(b.last).Seconds()*perSec)
	b.last = now
	if b.tokens < 1 {
		return 0, secs((float64(lim.Burst) - b.tokens) / perSec), secs((1 - b.tokens) / perSec), false
	}
	b.tokens--
	reset = secs((float64(lim.Burst) - b.tokens) / perSec)
	b.full = now.Add(reset)
	return int(b.tokens), reset, 0, true
}

// sweepEvery and sweepSize decide when idle buckets are forgotten: every
// minute, or sooner when many addresses or principals came by (a flood from
// many addresses must not grow the map without bound).
const (
	sweepEvery = time.Minute
	sweepSize  = 4096
)

func (l *limiter) bucket(id string, lim RateLimit, now time.Time) *bucket {
	if now.Sub(l.swept) > sweepEvery || (len(l.buckets) > sweepSize && now.Sub(l.swept) > time.Second) {
		// A full bucket with no stream open behaves as a new one: forgetting
		// it changes nothing.
		for k, b := range l.buckets {
			if b.streams == 0 && !now.Before(b.full) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[id]
	if b == nil {
		b = &bucket{tokens: float64(lim.Burst), last: now}
		l.buckets[id] = b
	}
	return b
}

// openStream counts a stream against the principal's cap; release undoes it.
func (l *limiter) openStream(id string, lim RateLimit) (release func(), ok bool) {
	if lim.Streams == 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(id, lim, l.now())
	if b.streams >= lim.Streams {
		return nil, false
	}
	b.streams++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			b.streams--
			l.mu.Unlock()
		})
	}, true
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// rateLimit answers 429 once a principal's bucket is empty, and tells every
// client where it stands with OpenAI's x-ratelimit-* headers.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limits == nil {
			next.ServeHTTP(w, r)
			return
		}
		p := principal(r)
		lim := s.limits.limits.forPrincipal(p)
		if lim.PerMinute == 0 {
			next.ServeHTTP(w, r)
			return
		}
		remaining, reset, retry, ok := s.limits.take(p.ID, lim)
		h := w.Header()
		h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(lim.PerMinute))
		h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(remaining))
		h.Set("X-Ratelimit-Reset-Requests", reset.Round(time.Millisecond).String())
		if !ok {
			s.metrics.limited("requests")
			writeError(w, r, tooMany(lim, retry, "requests"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func tooMany(lim RateLimit, retry time.Duration, what string) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "rate_limit_exceeded",
		RetryAfter: strconv.Itoa(int(math.Ceil(retry.Seconds()))),
		Message:    fmt.Sprintf("too many %s: the limit is %d per minute; retry in %s", what, lim.PerMinute, retry.Round(time.Millisecond))}
}

// perAddress limits a public /auth write per client address; it runs before
// the body is read or any password hashed.
func (s *Server) perAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limits == nil || s.limits.limits.Address.PerMinute == 0 {
			next.ServeHTTP(w, r)
			return
		}
		lim := s.limits.limits.Address
		if _, _, retry, ok := s.limits.take("addr "+s.clientAddr(r), lim); !ok {
			s.metrics.limited("sign_in")
			writeError(w, r, tooMany(lim, retry, "sign-in requests from this address"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr is who sent the request, for per-address limits: the peer's
// address, or, when the request comes through the gateway (it carries the
// gateway secret), the address the gateway saw, which it appended to
// X-Forwarded-For. A client's own X-Forwarded-For is never believed. IPv6
// addresses count per /64, the block one subscriber gets.
func (s *Server) clientAddr(r *http.Request) string {
	addr := ""
	if s.viaGateway(r) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			addr = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
		}
	}
	if addr == "" {
		addr = r.RemoteAddr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// openStream reserves one of the principal's concurrent streams, or returns
// the 429 to send.
func (s *Server) openStream(r *http.Request) (release func(), err error) {
	if s.limits == nil {
		return s.countStream(func() {}), nil
	}
	p := principal(r)
	lim := s.limits.limits.forPrincipal(p)
	release, ok := s.limits.openStream(p.ID, lim)
	if !ok {
		s.metrics.limited("streams")
		return nil, &apiError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "too_many_streams", RetryAfter: "1",
			Message: fmt.Sprintf("at most %d streams may be open at once; finish or cancel one first", lim.Streams)}
	}
	return s.countStream(release), nil
}

// countStream counts an open stream in jan_streams_active until release.
func (s *Server) countStream(release func()) func() {
	s.metrics.streamOpened()
	var once sync.Once
	return func() { once.Do(func() { s.metrics.streamClosed(); release() }) }
}
