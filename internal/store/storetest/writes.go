package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

// testConcurrentMixedWrites: concurrent writes of every kind, some of which
// fail, each get their own outcome. A backend that commits concurrent writes
// together (SQLite's group commit) must still fail only the failing ones,
// with their own error, and keep nothing of them.
func testConcurrentMixedWrites(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, initial := newConversation(t, st, user, "first")
	owner := &store.User{Username: "mixed-owner"}
	must(t, st.CreateUser(c, owner))
	const rounds = 5
	for round := range rounds {
		token := &store.RefreshToken{Hash: fmt.Sprintf("mixed-%d", round), UserID: owner.ID, ExpiresAt: time.Now().Add(time.Hour)}
		must(t, st.SignIn(c, nil, token))
		key := idemKey(fmt.Sprintf("mixed-%d", round))

		type outcome struct {
			kind string
			err  error
			rec  *store.IdempotencyRecord
		}
		var (
			mu       sync.Mutex
			outcomes []outcome
			failedID []string // conversations whose create must have left nothing
			wg       sync.WaitGroup
		)
		start := make(chan struct{})
		do := func(kind string, f func() (*store.IdempotencyRecord, error)) {
			wg.Go(func() {
				<-start
				rec, err := f()
				mu.Lock()
				outcomes = append(outcomes, outcome{kind, err, rec})
				mu.Unlock()
			})
		}
		for i := range 8 {
			do("append", func() (*store.IdempotencyRecord, error) {
				return nil, st.AppendMessages(c, user, conv.ID, []*store.Message{
					{Role: store.RoleUser, Content: fmt.Sprintf("r%d q%d", round, i)},
					{Role: store.RoleAssistant, Content: fmt.Sprintf("r%d a%d", round, i)},
				})
			})
			do("append to a missing conversation", func() (*store.IdempotencyRecord, error) {
				return nil, st.AppendMessages(c, user, "conv_missing", []*store.Message{{Role: store.RoleUser, Content: "x"}})
			})
			do("create with a taken message id", func() (*store.IdempotencyRecord, error) {
				failed := &store.Conversation{ID: store.NewID(store.PrefixConversation), UserID: user}
				mu.Lock()
				failedID = append(failedID, failed.ID)
				mu.Unlock()
				return nil, st.CreateConversation(c, failed, []*store.Message{
					{Role: store.RoleUser, Content: "fresh"},
					{ID: initial[0].ID, Role: store.RoleUser, Content: "dup"},
				})
			})
			do("begin", func() (*store.IdempotencyRecord, error) {
				return st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: key, BodyHash: "h"})
			})
			do("use token", func() (*store.IdempotencyRecord, error) {
				_, err := st.RotateRefreshToken(c, token.Hash, &store.RefreshToken{Hash: fmt.Sprintf("mixed-%d-%d", round, i), ExpiresAt: time.Now().Add(time.Hour)})
				return nil, err
			})
			do("create user", func() (*store.IdempotencyRecord, error) {
				return nil, st.CreateUser(c, &store.User{Username: fmt.Sprintf("mixed-%d", round)})
			})
		}
		close(start)
		wg.Wait()

		count := map[string]int{}
		for _, o := range outcomes {
			switch {
			case o.kind == "append" || o.kind == "begin" && o.err == nil:
				must(t, o.err)
				if o.rec == nil {
					count[o.kind+" ok"]++
				}
			case o.kind == "append to a missing conversation":
				wantErr(t, o.kind, o.err, store.ErrNotFound)
			case o.kind == "use token" && o.err != nil: // a replay of the spent token
				wantErr(t, o.kind, o.err, store.ErrTokenReused)
			case o.kind == "create with a taken message id" || o.kind == "create user" && o.err != nil:
				wantErr(t, o.kind, o.err, store.ErrConflict)
			case o.err != nil:
				t.Errorf("%s: %v", o.kind, o.err)
			default:
				count[o.kind+" ok"]++
			}
		}
		for kind, want := range map[string]int{"append ok": 8, "begin ok": 1, "use token ok": 1, "create user ok": 1} {
			if count[kind] != want {
				t.Errorf("round %d: %d × %s, want %d", round, count[kind], kind, want)
			}
		}
		for _, id := range failedID {
			_, err := st.GetConversation(c, user, id)
			wantErr(t, "conversation of a failed create", err, store.ErrNotFound)
		}
	}
	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	if want := 1 + rounds*8*2; len(hist) != want {
		t.Fatalf("History has %d messages, want %d", len(hist), want)
	}
	for i := 1; i < len(hist); i += 2 {
		var r, n int
		if _, err := fmt.Sscanf(hist[i].Content, "r%d q%d", &r, &n); err != nil || hist[i+1].Content != fmt.Sprintf("r%d a%d", r, n) {
			t.Fatalf("messages %d, %d: %q, %q: want a question and its answer", i, i+1, hist[i].Content, hist[i+1].Content)
		}
	}
}

// testCancelledWrite: a write whose context has ended fails with the
// context's error and writes nothing.
func testCancelledWrite(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, _ := newConversation(t, st, user)
	cancelled, cancel := context.WithCancel(c)
	cancel()
	err := st.AppendMessages(cancelled, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "late"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("AppendMessages with a cancelled context: %v, want context.Canceled", err)
	}
	_, err = st.BeginIdempotent(cancelled, &store.IdempotencyRecord{IdempotencyKey: idemKey("cancelled")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("BeginIdempotent with a cancelled context: %v, want context.Canceled", err)
	}
	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	if len(hist) != 0 {
		t.Errorf("a cancelled append stored %d messages", len(hist))
	}
	if rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: idemKey("cancelled")}); err != nil || rec != nil {
		t.Errorf("Begin after a cancelled Begin = %+v, %v; want nil, nil (nothing stored)", rec, err)
	}
}

// testWriteAfterClose: a closed store refuses writes (and does not hang).
func testWriteAfterClose(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, _ := newConversation(t, st, user)
	must(t, st.Close())
	if err := st.AppendMessages(c, user, conv.ID, []*store.Message{{Role: store.RoleUser}}); err == nil {
		t.Error("AppendMessages on a closed store succeeded")
	}
	if err := st.CompleteIdempotent(c, idemKey("closed"), 200, "", nil); err == nil {
		t.Error("CompleteIdempotent on a closed store succeeded")
	}
}
