package store

import (
	"context"
	"fmt"
	"sync/atomic"
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

// BeginIdempotent claims r's key with a pending record and returns (nil, nil),
// or returns the live record that already holds the key. The claim is one
// statement: an INSERT that, on a conflict, replaces the record only if it is
// stale (older than IdempotencyTTL, or pending for longer than
// IdempotencyPendingTTL), so of any number of concurrent callers with one key
// exactly one gets (nil, nil). A zero r.CreatedAt is set to now.
func (s *sqlStore) BeginIdempotent(ctx context.Context, r *IdempotencyRecord) (*IdempotencyRecord, error) {
	now := s.timestamp()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	k := r.IdempotencyKey
	var live *IdempotencyRecord
	// The claim's batch looks at data_version (see groupCommitter): a
	// request's claim comes before its reads, which then need no look of
	// their own (ConversationHistory).
	err := s.write1Looking(ctx, "begin idempotent", func(ctx context.Context, q queryer) error {
		live = nil // fn may run more than once (see groupCommitter)
		// A pass either claims the key or finds the live record; a record
		// aborted between the two (Postgres) makes another pass.
		for range 5 {
			res, err := s.exec(ctx, q,
				`INSERT INTO idempotency (principal_id, method, path, key, body_hash, done, status, content_type, body, created_at)
				 VALUES (?, ?, ?, ?, ?, ?, 0, '', NULL, ?)
				 ON CONFLICT (principal_id, method, path, key) DO UPDATE SET
				   body_hash = excluded.body_hash, done = excluded.done, status = 0, content_type = '', body = NULL,
				   created_at = excluded.created_at
				 WHERE idempotency.created_at < ? OR (idempotency.done = ? AND idempotency.created_at < ?)`,
				k.PrincipalID, k.Method, k.Path, k.Key, r.BodyHash, false, s.d.timeArg(r.CreatedAt),
				s.d.timeArg(now.Add(-IdempotencyTTL)), false, s.d.timeArg(now.Add(-IdempotencyPendingTTL)))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				return nil
			}
			live, err = s.getIdempotent(ctx, q, k)
			if err != ErrNotFound {
				return err
			}
		}
		return fmt.Errorf("key %q keeps changing under concurrent requests", r.Key)
	})
	if err != nil || live != nil {
		return live, err
	}
	r.Done = false
	return nil, nil
}

// getIdempotent reads the key's record on q (the writer's transaction, when
// there is one, so that it sees what the claim just saw).
func (s *sqlStore) getIdempotent(ctx context.Context, q queryer, k IdempotencyKey) (*IdempotencyRecord, error) {
	rec := IdempotencyRecord{IdempotencyKey: k}
	err := s.queryRow(ctx, q,
		"SELECT body_hash, done, status, content_type, body, created_at FROM idempotency WHERE "+idempotencyScope,
		k.PrincipalID, k.Method, k.Path, k.Key,
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
	return s.write1Keeps(ctx, "complete idempotent", func(ctx context.Context, q queryer) error {
		return s.execOne(ctx, q,
			"UPDATE idempotency SET done = ?, status = ?, content_type = ?, body = ? WHERE "+idempotencyScope,
			true, status, contentType, body, k.PrincipalID, k.Method, k.Path, k.Key)
	})
}

// AbortIdempotent deletes the key's record if it is still pending; a finished
// record stays, and a missing one is not an error.
func (s *sqlStore) AbortIdempotent(ctx context.Context, k IdempotencyKey) error {
	return s.write1Keeps(ctx, "abort idempotent", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "DELETE FROM idempotency WHERE "+idempotencyScope+" AND done = ?",
			k.PrincipalID, k.Method, k.Path, k.Key, false)
		return err
	})
}

// PurgeIdempotency deletes the records that can no longer answer a retry:
// finished ones older than IdempotencyTTL and pending ones older than
// IdempotencyPendingTTL. It returns how many it deleted.
func (s *sqlStore) PurgeIdempotency(ctx context.Context) (int64, error) {
	now := s.timestamp()
	var n int64
	err := s.write1Keeps(ctx, "purge idempotency", func(ctx context.Context, q queryer) error {
		res, err := s.exec(ctx, q, "DELETE FROM idempotency WHERE created_at < ? OR (done = ? AND created_at < ?)",
			s.d.timeArg(now.Add(-IdempotencyTTL)), false, s.d.timeArg(now.Add(-IdempotencyPendingTTL)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// IdempotentDone is a request's finished response, to be recorded in the
// same transaction as the write that is its effect (WithIdempotentDone):
// one commit per request instead of two, and never an effect stored whose
// record says it is still running.
type IdempotentDone struct {
	Key         IdempotencyKey
	Status      int
	ContentType string
	Body        []byte
	applied     atomic.Bool
}

// Applied reports whether a committed write recorded the response.
func (d *IdempotentDone) Applied() bool { return d.applied.Load() }

type idempotentDoneKey struct{}

// WithIdempotentDone makes the next multi-statement write made with ctx
// (AppendMessages, CreateConversation, …) also record d, in its
// transaction; d.Applied says whether it did.
func WithIdempotentDone(ctx context.Context, d *IdempotentDone) context.Context {
	return context.WithValue(ctx, idempotentDoneKey{}, d)
}

// withDone is fn followed, in the same transaction, by the completion of
// the idempotency record ctx carries (none: fn itself); markApplied is
// called once the transaction has committed.
func (s *sqlStore) withDone(ctx context.Context, fn txFunc) (txFunc, func()) {
	d, _ := ctx.Value(idempotentDoneKey{}).(*IdempotentDone)
	if d == nil || d.applied.Load() {
		return fn, func() {}
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	return func(ctx context.Context, q queryer) error {
		if err := fn(ctx, q); err != nil {
			return err
		}
		return s.execOne(ctx, q, "UPDATE idempotency SET done = ?, status = ?, content_type = ?, body = ? WHERE "+idempotencyScope,
			true, d.Status, d.ContentType, body, d.Key.PrincipalID, d.Key.Method, d.Key.Path, d.Key.Key)
	}, func() { d.applied.Store(true) }
}
