package auth

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// jwksRefetchInterval is the least time between two JWKS fetches once a key
// set is cached. go-oidc's remote key set fetches the JWKS again for every
// token whose kid it has not seen; without this, a flood of forged tokens
// with made-up kids would become a flood of requests to Keycloak. The price:
// a token signed with a key Keycloak rotated in less than this ago is
// refused until the interval has passed.
const jwksRefetchInterval = 30 * time.Second

// jwksFailedRetry is the least time between fetch attempts while none has
// succeeded yet (Keycloak still starting).
const jwksFailedRetry = time.Second

// maxJWKSBytes bounds a JWKS held in memory.
const maxJWKSBytes = 1 << 20

// jwksLimiter is the http.RoundTripper the verifier's key set uses: GETs of
// the JWKS URL reach Keycloak at most once per jwksRefetchInterval; in
// between, the last good answer is replayed. Other requests pass through.
type jwksLimiter struct {
	base http.RoundTripper
	url  string
	now  func() time.Time

	mu       sync.Mutex
	body     []byte // last good JWKS; nil until one arrived
	header   http.Header
	fetched  time.Time // when body was fetched
	tried    time.Time // last attempt, good or not
	lastErr  error
	inflight chan struct{} // closed when the running fetch ends
}

func (l *jwksLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.String() != l.url {
		return l.base.RoundTrip(req)
	}
	for {
		l.mu.Lock()
		now := l.now()
		switch {
		case l.body != nil && now.Sub(l.fetched) < jwksRefetchInterval:
			resp := l.replay(req)
			l.mu.Unlock()
			return resp, nil
		case l.inflight != nil:
			wait := l.inflight
			l.mu.Unlock()
			select {
			case <-wait:
				continue // the fetch just ended: its result (or an error) applies
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		case l.body == nil && !l.tried.IsZero() && now.Sub(l.tried) < jwksFailedRetry:
			err := l.lastErr
			l.mu.Unlock()
			if err == nil {
				err = fmt.Errorf("keycloak: JWKS %s: no key set yet", l.url)
			}
			return nil, err
		}
		done := make(chan struct{})
		l.inflight = done
		l.tried = now
		l.mu.Unlock()

		resp, err := l.fetch(req)

		l.mu.Lock()
		l.inflight = nil
		close(done)
		if err != nil {
			l.lastErr = err
			if l.body != nil {
				// Keycloak is down but a key set is cached: keep using it
				// rather than failing every token until it is back.
				l.fetched = l.now()
				resp, err = l.replay(req), nil
			}
		}
		l.mu.Unlock()
		return resp, err
	}
}

// fetch asks Keycloak and, on a 200, caches the body. Called without l.mu.
func (l *jwksLimiter) fetch(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("keycloak: JWKS %s: HTTP %d", l.url, resp.StatusCode)
	}
	l.mu.Lock()
	l.body, l.header, l.fetched = body, resp.Header.Clone(), l.now()
	l.mu.Unlock()
	return l.replayLocked(req, body, resp.Header), nil
}

func (l *jwksLimiter) replay(req *http.Request) *http.Response {
	return l.replayLocked(req, l.body, l.header)
}

func (l *jwksLimiter) replayLocked(req *http.Request, body []byte, h http.Header) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h.Clone(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
