package auth

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/janhq/jan/internal/store"
)

// Ended sessions. Access tokens of the embedded issuer name their session
// (sid); when a session ends — logout, an upgrade, a refresh token used
// twice — its access tokens must stop working although they have not
// expired. The verifier asks revocations, which keeps the ids of sessions
// ended recently enough that a token naming them could still be live.

// revocationPoll is how stale the list of ended sessions may get before a
// verification reads it again from the database: a session ended on another
// replica is refused here within about this long.
const revocationPoll = 2 * time.Second

type revocationStore interface {
	RevokedSessions(ctx context.Context, since time.Time) ([]store.RevokedSession, error)
}

type revocations struct {
	st      revocationStore
	now     func() time.Time
	keep    time.Duration // how long an ended session matters: a token's lifetime and the clock skew
	ids     atomic.Pointer[map[string]time.Time]
	checked atomic.Int64 // Unix nanoseconds of the last read
	loading atomic.Bool
	log     *slog.Logger
}

func newRevocations(st revocationStore, now func() time.Time, accessTTL time.Duration, log *slog.Logger) *revocations {
	r := &revocations{st: st, now: now, keep: accessTTL + 2*ClockSkew, log: log}
	r.ids.Store(&map[string]time.Time{})
	return r
}

// ended reports whether session sid has ended. When the list is stale, one
// caller reads it again (the others use what is known meanwhile).
func (r *revocations) ended(sid string) bool {
	if r.now().UnixNano()-r.checked.Load() >= int64(revocationPoll) && r.loading.CompareAndSwap(false, true) {
		r.load()
		r.loading.Store(false)
	}
	_, ok := (*r.ids.Load())[sid]
	return ok
}

// load reads the sessions ended recently. Revocation times come from the
// clocks of whichever process ended them, so each read overlaps the last by
// the allowed clock skew; entries too old to matter are dropped.
func (r *revocations) load() {
	now := r.now()
	since := now.Add(-r.keep)
	if last := r.checked.Load(); last != 0 {
		if overlap := time.Unix(0, last).Add(-2 * ClockSkew); overlap.After(since) {
			since = overlap
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	list, err := r.st.RevokedSessions(ctx, since)
	r.checked.Store(now.UnixNano()) // after a failure too: retry at the next poll, not on every request
	if err != nil {
		r.log.Warn("read ended sessions; tokens of sessions ended since the last read still verify", "err", err)
		return
	}
	old := *r.ids.Load()
	next := make(map[string]time.Time, len(old)+len(list))
	for id, at := range old {
		if now.Sub(at) < r.keep {
			next[id] = at
		}
	}
	for _, s := range list {
		next[s.ID] = s.RevokedAt
	}
	r.ids.Store(&next)
}
