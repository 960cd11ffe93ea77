package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/janhq/jan/internal/store"
)

// RunOpen tests store.Open on one backend: migrations, reopening, and
// several processes (here: stores) opening one new database at once. newDSN
// must return the DSN of a new, empty database on each call.
func RunOpen(t *testing.T, newDSN func(t *testing.T) string) {
	t.Run("NotMigrated", func(t *testing.T) {
		t.Parallel()
		st, err := store.Open(ctx(t), newDSN(t), store.Options{})
		if err == nil {
			st.Close()
			t.Fatal("Open without AutoMigrate of an empty database succeeded")
		}
		if !strings.Contains(err.Error(), "AUTO_MIGRATE=true") || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("error %q should tell to run with AUTO_MIGRATE=true, and not be ErrUnavailable", err)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		c, dsn := ctx(t), newDSN(t)
		user := store.NewID(store.PrefixUser)
		conv := &store.Conversation{UserID: user, Title: "kept"}
		for i, opts := range []store.Options{{AutoMigrate: true}, {AutoMigrate: true}, {}} {
			st, err := store.Open(c, dsn, opts)
			if err != nil {
				t.Fatalf("open #%d (%+v): %v", i+1, opts, err)
			}
			if i == 0 {
				must(t, st.CreateConversation(c, conv, []*store.Message{{Role: store.RoleUser, Content: "hi"}}))
			} else if got, err := st.GetConversation(c, user, conv.ID); err != nil || got.Title != "kept" {
				t.Errorf("open #%d: conversation = %+v, %v", i+1, got, err)
			}
			must(t, st.Ping(c))
			must(t, st.Close())
		}
	})

	t.Run("ConcurrentOpen", func(t *testing.T) {
		t.Parallel()
		c, dsn := ctx(t), newDSN(t)
		const n = 4
		stores := make([]store.Store, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				st, err := store.Open(c, dsn, store.Options{AutoMigrate: true})
				if err != nil {
					t.Errorf("concurrent open %d: %v", i, err)
					return
				}
				stores[i] = st
			})
		}
		wg.Wait()
		user := store.NewID(store.PrefixUser)
		for i, st := range stores {
			if st == nil {
				continue
			}
			conv := &store.Conversation{UserID: user}
			if err := st.CreateConversation(c, conv, nil); err != nil {
				t.Errorf("store %d: %v", i, err)
			}
			defer st.Close()
		}
		if t.Failed() {
			return
		}
		list, _, err := stores[0].ListConversations(c, user, store.Page{Limit: 10})
		must(t, err)
		if len(list) != n {
			t.Errorf("%d stores on one database see %d conversations, want %d", n, len(list), n)
		}
	})
}
