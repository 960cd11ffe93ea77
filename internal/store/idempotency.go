package store

import (
	"context"
	"fmt"
	"time"
)

// How long idempotency records live. A finished record answers retries for a
// day; a pending one older than a few minutes belongs to a request whose
// process died, and must not block the key forever.
const (
	IdempotencyTTL        = 24 * time.Hour
	IdempotencyPendingTTL = 10 * time.Minute
)

const idempotencyScope = "principal_id = ? AND method = ? AND path = ? AND key = ?"

func scopeArgs(k IdempotencyKey) []any {
	return []any{k.PrincipalID, k.Method, k.Path, k.Key}
}

// BeginIdempotent claims r's key with a pending record and returns (nil, nil),
// or returns the live record that already holds the key. Of any number of
// concurrent callers with one key exactly one gets (nil, nil): the claim is a
// single INSERT … ON CONFLICT DO NOTHING. A stale record (older than
// IdempotencyTTL, or pending for longer than IdempotencyPendingTTL) is deleted
// — only if it is still the same record — and the claim retried. A zero
// r.CreatedAt is set to now.
func (s *sqlStore) BeginIdempotent(ctx context.Context, r *IdempotencyRecord) (*IdempotencyRecord, error) {
	const op = "begin idempotent"
	now := s.timestamp()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	// Each pass either claims the key, returns a live record, or removes a
	// stale one that someone else may beat us to re-claiming; a few passes
	// settle every race.
	for range 5 {
		res, err := s.exec(ctx, s.write,
			`INSERT INTO idempotency (principal_id, method, path, key, body_hash, done, status, content_type, body, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, 0, '', NULL, ?)
			 ON CONFLICT (principal_id, method, path, key) DO NOTHING`,
			append(scopeArgs(r.IdempotencyKey), r.BodyHash, false, s.d.timeArg(r.CreatedAt))...)
		if err != nil {
			return nil, s.fail(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, s.fail(op, err)
		} else if n == 1 {
			r.Done = false
			return nil, nil
		}
		rec, err := s.getIdempotent(ctx, r.IdempotencyKey)
		if err == ErrNotFound {
			continue // aborted since our insert: claim again
		}
		if err != nil {
			return nil, s.fail(op, err)
		}
		if !stale(rec, now) {
			return rec, nil
		}
		if _, err := s.exec(ctx, s.write,
			"DELETE FROM idempotency WHERE "+idempotencyScope+" AND created_at = ? AND done = ?",
			append(scopeArgs(r.IdempotencyKey), s.d.timeArg(rec.CreatedAt), rec.Done)...); err != nil {
			return nil, s.fail(op, err)
		}
	}
	return nil, s.fail(op, fmt.Errorf("key %q keeps changing under concurrent requests", r.Key))
}

func stale(r *IdempotencyRecord, now time.Time) bool {
	age := now.Sub(r.CreatedAt)
	return age > IdempotencyTTL || (!r.Done && age > IdempotencyPendingTTL)
}

func (s *sqlStore) getIdempotent(ctx context.Context, k IdempotencyKey) (*IdempotencyRecord, error) {
	rec := IdempotencyRecord{IdempotencyKey: k}
	err := s.queryRow(ctx, s.read,
		"SELECT body_hash, done, status, content_type, body, created_at FROM idempotency WHERE "+idempotencyScope,
		scopeArgs(k)...,
	).Scan(&rec.BodyHash, &rec.Done, &rec.Status, &rec.ContentType, &rec.Body, timeCol{&rec.CreatedAt})
	if err != nil {
		if s.d.classify(err) == ErrNotFound {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &rec, nil
}

// CompleteIdempotent stores the response for the key and marks it done;
// ErrNotFound if the key has no record.
func (s *sqlStore) CompleteIdempotent(ctx context.Context, k IdempotencyKey, status int, contentType string, body []byte) error {
	if body == nil {
		body = []byte{} // NULL means "no response yet"
	}
	return s.fail("complete idempotent", s.execOne(ctx, s.write,
		"UPDATE idempotency SET done = ?, status = ?, content_type = ?, body = ? WHERE "+idempotencyScope,
		append([]any{true, status, contentType, body}, scopeArgs(k)...)...))
}

// AbortIdempotent deletes the key's record if it is still pending; a finished
// record stays, and a missing one is not an error.
func (s *sqlStore) AbortIdempotent(ctx context.Context, k IdempotencyKey) error {
	_, err := s.exec(ctx, s.write, "DELETE FROM idempotency WHERE "+idempotencyScope+" AND done = ?",
		append(scopeArgs(k), false)...)
	return s.fail("abort idempotent", err)
}
