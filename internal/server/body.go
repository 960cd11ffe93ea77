package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Request bodies are read into memory (handlers and idempotency need the
// bytes, and proxying a buffered body never truncates), so reading them is
// where a client can make the server hold memory. readBody runs only after a
// route's gatekeepers (authentication, rate limits): an unauthenticated
// request costs no more than its headers. A body must then:
//
//   - fit the route's limit (413),
//   - arrive in time: within Timeout, and after its first Grace at MinRate
//     on average, so a client trickling bytes is cut (408),
//   - fit the server-wide Buffer, the bytes of all bodies held at once
//     (503 with Retry-After: the server is busy, not the client wrong).

// BodyLimits bound the reading of request bodies; zero fields get defaults.
type BodyLimits struct {
	Max     int64         // one body's bytes (default 4 MiB)
	Timeout time.Duration // the whole body must arrive within it (default 60s)
	MinRate int64         // bytes per second a body must average after Grace (default 4096)
	Buffer  int64         // bytes of all bodies held at once (default 128 MiB)
	// Grace is how long a body may take before its rate is held to
	// MinRate: a small body arrives within it on any link (default 5s,
	// and never more than Timeout).
	Grace time.Duration
}

func (l BodyLimits) withDefaults() BodyLimits {
	l.Max = orDefault(l.Max, 4<<20)
	l.Timeout = orDefault(l.Timeout, 60*time.Second)
	l.MinRate = orDefault(l.MinRate, 4096)
	l.Buffer = orDefault(l.Buffer, 128<<20)
	l.Grace = min(orDefault(l.Grace, 5*time.Second), l.Timeout)
	return l
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// authBodyLimit bounds the bodies of the /auth routes: credentials and
// tokens, a few hundred bytes.
const authBodyLimit = 64 << 10

// budget counts the body bytes held by all requests together.
type budget struct {
	max  int64
	used atomic.Int64
}

func (b *budget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) give(n int64) { b.used.Add(-n) }

var (
	errBodyTimeout = &apiError{Status: http.StatusRequestTimeout, Type: "invalid_request_error", Code: "body_timeout",
		Message: "the request body did not arrive in time; send it at once, and at a steady pace"}
	errBodyBudget = &apiError{Status: http.StatusServiceUnavailable, Type: "unavailable_error", Code: "server_busy", RetryAfter: "1",
		Message: "the server is holding too many request bodies right now; retry shortly"}
	errBadCharset = &apiError{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
		Message: "request bodies must be UTF-8: drop the charset parameter or make it utf-8"}
	errNotUTF8 = errInvalid("", "invalid_utf8", "the request body is not valid UTF-8")
)

// hasBody reports whether a request may carry a body jan reads.
func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		return false
	}
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

// readBody reads the body of the request (up to limit bytes) before next
// runs; next finds it with body(r).
func (s *Server) readBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasBody(r) {
			next.ServeHTTP(w, r)
			return
		}
		if err := checkCharset(r.Header.Get("Content-Type")); err != nil {
			writeError(w, r, err)
			return
		}
		b, held, err := s.bufferBody(w, r, limit)
		defer s.bodies.give(held)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if !utf8.Valid(b) {
			writeError(w, r, errNotUTF8)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyBody, b)))
	})
}

// checkCharset refuses a declared charset other than UTF-8 (or its subset
// ASCII): jan reads bodies as UTF-8 and would misread anything else.
func checkCharset(contentType string) error {
	if contentType == "" || !strings.Contains(contentType, "charset") {
		return nil
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil // the handler judges the media type itself
	}
	switch strings.ToLower(params["charset"]) {
	case "", "utf-8", "utf8", "us-ascii":
		return nil
	}
	return errBadCharset
}

// bufferBody reads the body under the limits and returns it with the bytes
// it holds from the budget (give them back when the request ends, even on
// error).
func (s *Server) bufferBody(w http.ResponseWriter, r *http.Request, limit int64) (b []byte, held int64, err error) {
	if r.ContentLength > limit {
		return nil, 0, &http.MaxBytesError{Limit: limit}
	}
	rc := http.NewResponseController(w)
	in := &paced{r: r.Body, rc: rc, start: time.Now(), lim: s.bodyLimits}
	defer func() {
		if err == nil {
			_ = rc.SetReadDeadline(time.Time{}) // what follows (a stream) has no deadline
		} else {
			// Refused: net/http must not wait for the rest of the body to
			// reuse the connection; it closes it.
			_ = rc.SetReadDeadline(time.Now())
		}
	}()

	if n := r.ContentLength; n > 0 {
		if !s.bodies.take(n) {
			return nil, 0, errBodyBudget
		}
		b = make([]byte, n)
		if _, err := io.ReadFull(in, b); err != nil {
			return nil, n, readError(err)
		}
		return b, n, nil
	}
	// Unknown length (chunked): grow, taking from the budget as it grows.
	size := int64(4 << 10)
	if !s.bodies.take(size) {
		return nil, 0, errBodyBudget
	}
	held = size
	b = make([]byte, 0, size)
	for {
		if int64(len(b)) == held {
			if held > limit {
				return nil, held, &http.MaxBytesError{Limit: limit}
			}
			grow := min(held, limit+1-held)
			if !s.bodies.take(grow) {
				return nil, held, errBodyBudget
			}
			held += grow
			b = slices.Grow(b, int(grow))
		}
		n, err := in.Read(b[len(b):held])
		b = b[:len(b)+n]
		if err == io.EOF {
			if int64(len(b)) > limit {
				return nil, held, &http.MaxBytesError{Limit: limit}
			}
			return b, held, nil
		}
		if err != nil {
			return nil, held, readError(err)
		}
	}
}

func readError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errBodyTimeout
	}
	return errInvalid("", "invalid_body", "could not read the request body")
}

// paced reads a body under a read deadline that moves with the bytes that
// arrived: after Grace, the body must average MinRate, and all of it must
// arrive within Timeout.
type paced struct {
	r     io.Reader
	rc    *http.ResponseController
	start time.Time
	n     int64
	lim   BodyLimits
}

func (p *paced) Read(b []byte) (int, error) {
	earned := time.Duration(float64(p.n) / float64(p.lim.MinRate) * float64(time.Second))
	_ = p.rc.SetReadDeadline(p.start.Add(min(p.lim.Grace+earned, p.lim.Timeout)))
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

// bodyDeadline bounds the time a body that is never read (the request was
// refused first) can hold the connection: after the response, net/http
// reads and discards a small unread body to reuse the connection.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody { // any method: a GET or DELETE may carry one too
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyLimits.Grace))
	}
}
