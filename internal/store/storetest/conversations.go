package storetest

import (
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func testConversations(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user, Title: "Trip", Metadata: map[string]string{"topic": "travel"}}
	msgs := []*store.Message{
		{Role: store.RoleSystem, Content: "be brief"},
		{Role: store.RoleUser, Content: "hello"},
	}
	must(t, st.CreateConversation(c, conv, msgs))
	wantPrefix(t, "conversation id", conv.ID, store.PrefixConversation)
	fresh(t, "CreatedAt", conv.CreatedAt)
	sameTime(t, "UpdatedAt of a new conversation", conv.UpdatedAt, conv.CreatedAt)
	for i, m := range msgs {
		wantPrefix(t, "initial message id", m.ID, store.PrefixMessage)
		if m.ConversationID != conv.ID || m.Status != store.StatusCompleted {
			t.Errorf("initial message %d = %+v, want conversation %s, status completed", i, m, conv.ID)
		}
		fresh(t, "message CreatedAt", m.CreatedAt)
	}

	got, err := st.GetConversation(c, user, conv.ID)
	must(t, err)
	sameTime(t, "CreatedAt", got.CreatedAt, conv.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, conv.UpdatedAt)
	got.CreatedAt, got.UpdatedAt = conv.CreatedAt, conv.UpdatedAt
	equal(t, "GetConversation", got, conv)

	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	equal(t, "History ids", ids(hist, msgID), []string{msgs[0].ID, msgs[1].ID})

	// Metadata left nil reads back as an empty object, never null.
	bare := &store.Conversation{UserID: user}
	must(t, st.CreateConversation(c, bare, nil))
	got, err = st.GetConversation(c, user, bare.ID)
	must(t, err)
	if got.Metadata == nil || len(got.Metadata) != 0 || got.Title != "" || got.Model != "" {
		t.Errorf("bare conversation read back as %+v", got)
	}

	wantErr(t, "CreateConversation with a taken id",
		st.CreateConversation(c, &store.Conversation{ID: conv.ID, UserID: user}, nil), store.ErrConflict)
	if err := st.CreateConversation(c, &store.Conversation{}, nil); err == nil {
		t.Error("CreateConversation without a user succeeded")
	}
	// A failed create stores nothing, not even its messages.
	failed := &store.Conversation{UserID: user}
	dup := &store.Message{ID: msgs[0].ID, Role: store.RoleUser}
	wantErr(t, "CreateConversation with a taken message id", st.CreateConversation(c, failed, []*store.Message{dup}), store.ErrConflict)
	_, err = st.GetConversation(c, user, failed.ID)
	wantErr(t, "conversation of a failed create", err, store.ErrNotFound)

	_, err = st.GetConversation(c, user, "conv_missing")
	wantErr(t, "GetConversation of a missing id", err, store.ErrNotFound)
	wantErr(t, "DeleteConversation of a missing id", st.DeleteConversation(c, user, "conv_missing"), store.ErrNotFound)
	must(t, st.DeleteConversation(c, user, bare.ID))
	_, err = st.GetConversation(c, user, bare.ID)
	wantErr(t, "GetConversation after delete", err, store.ErrNotFound)
}

func testUpdateConversation(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user, Title: "old", Metadata: map[string]string{"a": "1"}}
	must(t, st.CreateConversation(c, conv, nil))

	title, model := "new", "llama-3"
	steps := []struct {
		name   string
		update store.ConversationUpdate
		want   store.Conversation // the fields that matter
	}{
		{"title only", store.ConversationUpdate{Title: &title},
			store.Conversation{Title: "new", Metadata: map[string]string{"a": "1"}}},
		{"metadata replaced", store.ConversationUpdate{Metadata: map[string]string{"b": "2"}},
			store.Conversation{Title: "new", Metadata: map[string]string{"b": "2"}}},
		{"model", store.ConversationUpdate{Model: &model},
			store.Conversation{Title: "new", Metadata: map[string]string{"b": "2"}, Model: "llama-3"}},
		{"nothing: only UpdatedAt moves", store.ConversationUpdate{},
			store.Conversation{Title: "new", Metadata: map[string]string{"b": "2"}, Model: "llama-3"}},
		{"metadata cleared", store.ConversationUpdate{Metadata: map[string]string{}},
			store.Conversation{Title: "new", Metadata: map[string]string{}, Model: "llama-3"}},
	}
	last := conv.UpdatedAt
	for _, step := range steps {
		time.Sleep(2 * time.Millisecond) // so UpdatedAt visibly moves
		got, err := st.UpdateConversation(c, user, conv.ID, step.update)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !got.UpdatedAt.After(last) {
			t.Errorf("%s: UpdatedAt %v did not move past %v", step.name, got.UpdatedAt, last)
		}
		last = got.UpdatedAt
		sameTime(t, step.name+": CreatedAt", got.CreatedAt, conv.CreatedAt)
		reread, err := st.GetConversation(c, user, conv.ID)
		must(t, err)
		for _, v := range []*store.Conversation{got, reread} {
			if v.Title != step.want.Title || v.Model != step.want.Model || v.ID != conv.ID || v.UserID != user {
				t.Errorf("%s: got %+v, want title %q model %q", step.name, v, step.want.Title, step.want.Model)
			}
			equal(t, step.name+": metadata", v.Metadata, step.want.Metadata)
		}
		sameTime(t, step.name+": UpdatedAt read back", reread.UpdatedAt, got.UpdatedAt)
	}

	_, err := st.UpdateConversation(c, user, "conv_missing", store.ConversationUpdate{Title: &title})
	wantErr(t, "UpdateConversation of a missing id", err, store.ErrNotFound)
}

func testMetadata(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	many := map[string]string{}
	for i := range 16 {
		many[nth("key", i)] = nth("value", i)
	}
	cases := []struct {
		name string
		meta map[string]string
	}{
		{"empty", map[string]string{}},
		{"one", map[string]string{"k": "v"}},
		{"empty strings", map[string]string{"": ""}},
		{"unicode", map[string]string{"язык": "日本語 😀", "emoji🔑": "ü"}},
		{"json-ish text", map[string]string{`"quoted"`: `{"a": [1, 2]}`, "nl": "line1\nline2\ttab\\"}},
		{"sixteen keys", many},
	}
	for _, tc := range cases {
		conv := &store.Conversation{UserID: user, Metadata: tc.meta}
		must(t, st.CreateConversation(c, conv, nil))
		got, err := st.GetConversation(c, user, conv.ID)
		must(t, err)
		equal(t, tc.name+" (create)", got.Metadata, tc.meta)

		// Round-trips through UpdateConversation too.
		blank := &store.Conversation{UserID: user}
		must(t, st.CreateConversation(c, blank, nil))
		_, err = st.UpdateConversation(c, user, blank.ID, store.ConversationUpdate{Metadata: tc.meta})
		must(t, err)
		got, err = st.GetConversation(c, user, blank.ID)
		must(t, err)
		equal(t, tc.name+" (update)", got.Metadata, tc.meta)
	}
}

// testCascadeDelete: deleting a conversation deletes its messages and runs.
// A conversation re-created under the same id must start empty.
func testCascadeDelete(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, msgs := newConversation(t, st, user, "q1", "a1")
	run := &store.Run{ConversationID: conv.ID, UserID: user, Model: "m"}
	must(t, st.CreateRun(c, run))
	other, otherMsgs := newConversation(t, st, user, "keep me")

	must(t, st.DeleteConversation(c, user, conv.ID))
	wantErr(t, "second delete", st.DeleteConversation(c, user, conv.ID), store.ErrNotFound)
	_, err := st.History(c, user, conv.ID)
	wantErr(t, "History of a deleted conversation", err, store.ErrNotFound)

	must(t, st.CreateConversation(c, &store.Conversation{ID: conv.ID, UserID: user}, nil))
	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	if len(hist) != 0 {
		t.Errorf("re-created conversation has %d old messages", len(hist))
	}
	_, err = st.GetMessage(c, user, conv.ID, msgs[0].ID)
	wantErr(t, "message of a deleted conversation", err, store.ErrNotFound)
	_, err = st.GetRun(c, user, conv.ID, run.ID)
	wantErr(t, "run of a deleted conversation", err, store.ErrNotFound)

	hist, err = st.History(c, user, other.ID)
	must(t, err)
	equal(t, "other conversation untouched", ids(hist, msgID), []string{otherMsgs[0].ID})
}

// testOwnership: every object of user A is ErrNotFound to user B, for every
// method, and B's attempts change nothing.
func testOwnership(t *testing.T, st store.Store) {
	c := ctx(t)
	a, b := store.NewID(store.PrefixUser), store.NewID(store.PrefixUser)
	conv, msgs := newConversation(t, st, a, "secret question")
	run := &store.Run{ConversationID: conv.ID, UserID: a, Model: "m"}
	must(t, st.CreateRun(c, run))
	title := "hijacked"
	page := store.Page{Limit: 10}

	attempts := []struct {
		name string
		call func() error
	}{
		{"GetConversation", func() error { _, err := st.GetConversation(c, b, conv.ID); return err }},
		{"UpdateConversation", func() error {
			_, err := st.UpdateConversation(c, b, conv.ID, store.ConversationUpdate{Title: &title})
			return err
		}},
		{"DeleteConversation", func() error { return st.DeleteConversation(c, b, conv.ID) }},
		{"AppendMessages", func() error {
			return st.AppendMessages(c, b, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "x"}})
		}},
		{"ListMessages", func() error { _, _, err := st.ListMessages(c, b, conv.ID, page); return err }},
		{"History", func() error { _, err := st.History(c, b, conv.ID); return err }},
		{"ConversationHistory", func() error { _, _, err := st.ConversationHistory(c, b, conv.ID); return err }},
		{"GetMessage", func() error { _, err := st.GetMessage(c, b, conv.ID, msgs[0].ID); return err }},
		{"DeleteMessage", func() error { return st.DeleteMessage(c, b, conv.ID, msgs[0].ID) }},
		{"CreateRun", func() error {
			return st.CreateRun(c, &store.Run{ConversationID: conv.ID, UserID: b, Model: "m"})
		}},
		{"FinishRun", func() error {
			return st.FinishRun(c, &store.Run{ID: run.ID, ConversationID: conv.ID, UserID: b},
				&store.Message{Content: "injected"})
		}},
		{"GetRun", func() error { _, err := st.GetRun(c, b, conv.ID, run.ID); return err }},
	}
	for _, at := range attempts {
		wantErr(t, "user B: "+at.name, at.call(), store.ErrNotFound)
	}

	list, _, err := st.ListConversations(c, b, store.ConversationFilter{}, page)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("user B lists %d of user A's conversations", len(list))
	}

	// A's objects are intact.
	got, err := st.GetConversation(c, a, conv.ID)
	must(t, err)
	if got.Title != "chat" {
		t.Errorf("title changed to %q", got.Title)
	}
	hist, err := st.History(c, a, conv.ID)
	must(t, err)
	equal(t, "A's history", ids(hist, msgID), []string{msgs[0].ID})
	gotRun, err := st.GetRun(c, a, conv.ID, run.ID)
	must(t, err)
	if gotRun.Status != store.StatusInProgress || gotRun.MessageID != "" {
		t.Errorf("A's run changed: %+v", gotRun)
	}
}
