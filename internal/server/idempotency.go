package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/janhq/jan/internal/store"
)

// idempotency implements Idempotency-Key (API.md): the first request with a
// key runs and its response (a stream included) is recorded in the database;
// a retry with the same body replays it, a different body is 422, and a retry
// while the first still runs is 409. Requests rejected before execution
// began (validation) and 5xx failures are not recorded, so the key can be
// retried.
func (s *Server) idempotency(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			next(w, r)
			return
		}
		if len(key) > 255 || !printable(key) {
			writeError(w, r, errInvalid("Idempotency-Key", "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters of UTF-8 text without control characters"))
			return
		}
		sum := sha256.Sum256(body(r))
		rec := &store.IdempotencyRecord{
			IdempotencyKey: store.IdempotencyKey{PrincipalID: principal(r).ID, Method: r.Method, Path: r.URL.Path, Key: key},
			BodyHash:       hex.EncodeToString(sum[:]),
		}
		prev, err := s.store.BeginIdempotent(r.Context(), rec)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if prev != nil {
			s.metrics.replayed()
			replay(w, r, prev, rec.BodyHash)
			return
		}

		cw := &capture{ResponseWriter: w, key: rec.IdempotencyKey}
		completed := false
		defer func() {
			// Record or release the key even if the client went away.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			var err error
			if completed && cw.done != nil && cw.done.Applied() && cw.done.Status == cw.status {
				return // recorded with the effect, in its transaction (recordWith)
			}
			if completed && !cw.retryable && (cw.status < 300 || (cw.status < 500 && cw.executed)) {
				err = s.store.CompleteIdempotent(ctx, rec.IdempotencyKey, cw.status, cw.Header().Get("Content-Type"), cw.buf.Bytes())
			} else {
				err = s.store.AbortIdempotent(ctx, rec.IdempotencyKey)
			}
			if err != nil {
				logFrom(ctx).Error("idempotency record", "err", err)
			}
		}()
		next(cw, r)
		if cw.status == 0 {
			cw.status = http.StatusOK
		}
		completed = true
	}
}

func replay(w http.ResponseWriter, r *http.Request, prev *store.IdempotencyRecord, bodyHash string) {
	switch {
	case prev.BodyHash != bodyHash:
		writeError(w, r, &apiError{Status: http.StatusUnprocessableEntity, Type: "invalid_request_error", Code: "idempotency_key_reused",
			Param: "Idempotency-Key", Message: "this Idempotency-Key was used with a different request body; use a new key for a new request"})
	case !prev.Done:
		writeError(w, r, &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "idempotency_in_progress",
			Param: "Idempotency-Key", Message: "a request with this Idempotency-Key is still in progress; retry after it finishes"})
	default:
		h := w.Header()
		h.Set("Idempotent-Replayed", "true")
		if prev.ContentType != "" {
			h.Set("Content-Type", prev.ContentType)
		}
		if bytes.HasPrefix([]byte(prev.ContentType), []byte("text/event-stream")) {
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Accel-Buffering", "no")
		}
		w.WriteHeader(prev.Status)
		_, _ = w.Write(prev.Body)
	}
}

// capture passes a response through while keeping a copy for the record.
type capture struct {
	http.ResponseWriter
	status    int
	buf       bytes.Buffer
	executed  bool
	retryable bool
	key       store.IdempotencyKey
	done      *store.IdempotentDone // the response, recorded with the effect's write
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.buf.Write(b)
	return c.ResponseWriter.Write(b)
}

func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// markExecuted tells the idempotency layer that the request has started to
// take effect, so even a 4xx decided from now on is recorded.
func markExecuted(w http.ResponseWriter) {
	if c, ok := w.(*capture); ok {
		c.executed = true
	}
}

// recordWith returns ctx carrying the response a handler is about to send
// (status, JSON body), so that the write that is the request's effect also
// records it for the Idempotency-Key, in one transaction; the handler must
// then send exactly that. Without a key, ctx is returned as it is.
func recordWith(ctx context.Context, w http.ResponseWriter, status int, body []byte) context.Context {
	c, ok := w.(*capture)
	if !ok {
		return ctx
	}
	c.done = &store.IdempotentDone{Key: c.key, Status: status, ContentType: "application/json", Body: body}
	return store.WithIdempotentDone(ctx, c.done)
}

// markRetryable tells the idempotency layer that the request's effect was
// not stored after all (a stream that had already answered 200 could not
// save its result): the key is released, so a retry runs it again.
func markRetryable(w http.ResponseWriter) {
	if c, ok := w.(*capture); ok {
		c.retryable = true
	}
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	for _, c := range s {
		if c == utf8.RuneError || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
