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

	// Two stores on one database stand for two processes (or replicas): each
	// sees the other's changes to a conversation's history, whatever it cached.
	t.Run("HistoryAcrossStores", func(t *testing.T) {
		t.Parallel()
		c, dsn := ctx(t), newDSN(t)
		a, err := store.Open(c, dsn, store.Options{AutoMigrate: true})
		must(t, err)
		defer a.Close()
		b, err := store.Open(c, dsn, store.Options{AutoMigrate: true})
		must(t, err)
		defer b.Close()
		user := store.NewID(store.PrefixUser)
		conv := &store.Conversation{UserID: user}
		must(t, a.CreateConversation(c, conv, []*store.Message{{Role: store.RoleUser, Content: "one"}}))
		contents := func(st store.Store) []string {
			_, msgs, err := st.ConversationHistory(c, user, conv.ID)
			must(t, err)
			var out []string
			for _, m := range msgs {
				out = append(out, m.Content)
			}
			return out
		}
		want := func(st store.Store, name string, w ...string) {
			t.Helper()
			if got := contents(st); strings.Join(got, ",") != strings.Join(w, ",") {
				t.Errorf("%s sees %v, want %v", name, got, w)
			}
		}
		want(a, "a", "one")
		want(a, "a again (cached)", "one")
		// a's own append extends what it cached, with ids and times.
		two := &store.Message{Role: store.RoleAssistant, Content: "two"}
		must(t, a.AppendMessages(c, user, conv.ID, []*store.Message{two}))
		_, msgs, err := a.ConversationHistory(c, user, conv.ID)
		must(t, err)
		if len(msgs) != 2 || msgs[1].ID != two.ID || msgs[1].Status != store.StatusCompleted || msgs[1].ConversationID != conv.ID {
			t.Errorf("a's history after its append = %+v", msgs)
		}
		// b appends: a notices.
		want(b, "b", "one", "two")
		must(t, b.AppendMessages(c, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "three"}}))
		want(a, "a after b's append", "one", "two", "three")
		// a appends again after b did: its entry must not skip b's message.
		must(t, a.AppendMessages(c, user, conv.ID, []*store.Message{{Role: store.RoleAssistant, Content: "four"}}))
		want(a, "a after both", "one", "two", "three", "four")
		// b appends and then a appends without reading in between: a's entry
		// predates b's message and must not be extended over it.
		must(t, b.AppendMessages(c, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "five"}}))
		must(t, a.AppendMessages(c, user, conv.ID, []*store.Message{{Role: store.RoleAssistant, Content: "six"}}))
		want(a, "a after b's then its own append", "one", "two", "three", "four", "five", "six")
		// b deletes a message: a notices.
		must(t, b.DeleteMessage(c, user, conv.ID, two.ID))
		want(a, "a after b's delete", "one", "three", "four", "five", "six")
		// Another user never gets the cached history.
		if _, _, err := a.ConversationHistory(c, "user_other", conv.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another user's history read: %v", err)
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
		list, _, err := stores[0].ListConversations(c, user, store.ConversationFilter{}, store.Page{Limit: 10})
		must(t, err)
		if len(list) != n {
			t.Errorf("%d stores on one database see %d conversations, want %d", n, len(list), n)
		}
	})
}
