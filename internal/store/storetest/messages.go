package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func testMessages(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, _ := newConversation(t, st, user)
	time.Sleep(2 * time.Millisecond)

	usage := &store.Usage{PromptTokens: 3, CompletionTokens: 5, TotalTokens: 8}
	q := &store.Message{Role: store.RoleUser, Content: "2+2?"}
	a := &store.Message{Role: store.RoleAssistant, Content: "4", Model: "qwen", Usage: usage, Status: store.StatusIncomplete}
	must(t, st.AppendMessages(c, user, conv.ID, []*store.Message{q, a}))
	for _, m := range []*store.Message{q, a} {
		wantPrefix(t, "message id", m.ID, store.PrefixMessage)
		fresh(t, "message CreatedAt", m.CreatedAt)
		if m.ConversationID != conv.ID {
			t.Errorf("message ConversationID = %q", m.ConversationID)
		}
	}
	if q.Status != store.StatusCompleted || a.Status != store.StatusIncomplete {
		t.Errorf("statuses %q, %q: want the default completed, then the given incomplete", q.Status, a.Status)
	}

	for _, want := range []*store.Message{q, a} {
		got, err := st.GetMessage(c, user, conv.ID, want.ID)
		must(t, err)
		sameTime(t, "message CreatedAt", got.CreatedAt, want.CreatedAt)
		got.CreatedAt = want.CreatedAt
		equal(t, "GetMessage", got, want)
	}

	// Appending bumps the conversation and records the model used.
	after, err := st.GetConversation(c, user, conv.ID)
	must(t, err)
	if !after.UpdatedAt.After(conv.UpdatedAt) || after.Model != "qwen" {
		t.Errorf("after append: UpdatedAt %v (was %v), Model %q; want later, qwen", after.UpdatedAt, conv.UpdatedAt, after.Model)
	}
	time.Sleep(2 * time.Millisecond)
	must(t, st.AppendMessages(c, user, conv.ID, nil))
	again, err := st.GetConversation(c, user, conv.ID)
	must(t, err)
	if !again.UpdatedAt.After(after.UpdatedAt) || again.Model != "qwen" {
		t.Errorf("after an empty append: UpdatedAt %v, Model %q", again.UpdatedAt, again.Model)
	}

	wantErr(t, "AppendMessages to a missing conversation",
		st.AppendMessages(c, user, "conv_missing", []*store.Message{{Role: store.RoleUser}}), store.ErrNotFound)

	// A message is only found through its own conversation.
	other, _ := newConversation(t, st, user)
	_, err = st.GetMessage(c, user, other.ID, q.ID)
	wantErr(t, "GetMessage through another conversation", err, store.ErrNotFound)
	wantErr(t, "DeleteMessage through another conversation", st.DeleteMessage(c, user, other.ID, q.ID), store.ErrNotFound)

	must(t, st.DeleteMessage(c, user, conv.ID, q.ID))
	_, err = st.GetMessage(c, user, conv.ID, q.ID)
	wantErr(t, "GetMessage after delete", err, store.ErrNotFound)
	wantErr(t, "second DeleteMessage", st.DeleteMessage(c, user, conv.ID, q.ID), store.ErrNotFound)
	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	equal(t, "History after delete", ids(hist, msgID), []string{a.ID})

	_, err = st.History(c, user, "conv_missing")
	wantErr(t, "History of a missing conversation", err, store.ErrNotFound)
	empty, err := st.History(c, user, other.ID)
	must(t, err)
	if empty == nil || len(empty) != 0 {
		t.Errorf("History of an empty conversation = %#v, want an empty list", empty)
	}
}

// testConcurrentAppends: turns appended concurrently to one conversation all
// land, each turn's two messages adjacent and each writer's turns in order.
func testConcurrentAppends(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, _ := newConversation(t, st, user)
	const writers, turns = 6, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range turns {
				err := st.AppendMessages(c, user, conv.ID, []*store.Message{
					{Role: store.RoleUser, Content: fmt.Sprintf("w%d q%d", w, i)},
					{Role: store.RoleAssistant, Content: fmt.Sprintf("w%d a%d", w, i)},
				})
				if err != nil {
					t.Errorf("writer %d turn %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	if len(hist) != writers*turns*2 {
		t.Fatalf("History has %d messages, want %d", len(hist), writers*turns*2)
	}
	next := make([]int, writers)
	for i := 0; i < len(hist); i += 2 {
		var w, n int
		if _, err := fmt.Sscanf(hist[i].Content, "w%d q%d", &w, &n); err != nil {
			t.Fatalf("message %d is %q, want a question", i, hist[i].Content)
		}
		if n != next[w] || hist[i+1].Content != fmt.Sprintf("w%d a%d", w, n) {
			t.Fatalf("message %d: %q then %q, want w%d q%d then its answer", i, hist[i].Content, hist[i+1].Content, w, next[w])
		}
		next[w]++
	}
}

// pageAll walks a list page by page and checks hasMore on every page.
func pageAll[T any](t *testing.T, what string, limit int, order string, total int,
	list func(store.Page) ([]T, bool, error), id func(T) string) []string {
	t.Helper()
	var all []string
	after := ""
	for page := 0; ; page++ {
		items, more, err := list(store.Page{Limit: limit, After: after, Order: order})
		if err != nil {
			t.Fatalf("%s: page %d: %v", what, page, err)
		}
		remaining := total - len(all)
		if wantLen := min(limit, remaining); len(items) != wantLen {
			t.Fatalf("%s: page %d has %d items, want %d", what, page, len(items), wantLen)
		}
		if wantMore := remaining > limit; more != wantMore {
			t.Fatalf("%s: page %d (limit %d, %d remaining): hasMore = %v, want %v", what, page, limit, remaining, more, wantMore)
		}
		all = append(all, ids(items, id)...)
		if !more {
			return all
		}
		after = all[len(all)-1]
	}
}

func testConversationPages(t *testing.T, st store.Store) {
	c := ctx(t)
	user, other := store.NewID(store.PrefixUser), store.NewID(store.PrefixUser)
	// One timestamp for all: order must come from creation order, not time.
	same := time.Now().UTC().Truncate(time.Millisecond)
	const n = 25
	var created []string
	for i := range n {
		conv := &store.Conversation{UserID: user, Title: nth("c", i), CreatedAt: same}
		must(t, st.CreateConversation(c, conv, nil))
		created = append(created, conv.ID)
		// Another user's conversations interleave and must never show.
		must(t, st.CreateConversation(c, &store.Conversation{UserID: other, CreatedAt: same}, nil))
	}
	list := func(p store.Page) ([]store.Conversation, bool, error) {
		return st.ListConversations(c, user, store.ConversationFilter{}, p)
	}
	for _, tc := range []struct {
		limit int
		order string
		want  []string
	}{
		{7, store.OrderAsc, created},
		{5, store.OrderAsc, created}, // pages divide the list exactly
		{1, store.OrderAsc, created},
		{100, store.OrderAsc, created},
		{7, store.OrderDesc, reversed(created)},
		{25, store.OrderDesc, reversed(created)},
		{7, "", reversed(created)}, // conversations default to newest first
	} {
		what := fmt.Sprintf("conversations limit %d order %q", tc.limit, tc.order)
		equal(t, what, pageAll(t, what, tc.limit, tc.order, n, list, convID), tc.want)
	}

	// After the last item there is nothing more.
	items, more, err := list(store.Page{Limit: 10, After: created[n-1], Order: store.OrderAsc})
	must(t, err)
	if len(items) != 0 || more {
		t.Errorf("after the last conversation: %d items, hasMore %v", len(items), more)
	}
	items, _, err = list(store.Page{Limit: 3, After: created[10], Order: store.OrderDesc})
	must(t, err)
	equal(t, "desc after the 11th", ids(items, convID), []string{created[9], created[8], created[7]})

	none, more, err := st.ListConversations(c, store.NewID(store.PrefixUser), store.ConversationFilter{}, store.Page{Limit: 10})
	must(t, err)
	if none == nil || len(none) != 0 || more {
		t.Errorf("a user without conversations: %#v, hasMore %v; want an empty list", none, more)
	}
}

func testMessagePages(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, initial := newConversation(t, st, user, "m-init")
	created := []string{initial[0].ID}
	same := time.Now().UTC().Truncate(time.Millisecond)
	for batch := range 3 {
		var msgs []*store.Message
		for i := range 10 {
			msgs = append(msgs, &store.Message{Role: store.RoleUser, Content: nth(fmt.Sprint(batch), i), CreatedAt: same})
		}
		must(t, st.AppendMessages(c, user, conv.ID, msgs))
		for _, m := range msgs {
			created = append(created, m.ID)
		}
	}
	list := func(p store.Page) ([]store.Message, bool, error) { return st.ListMessages(c, user, conv.ID, p) }
	n := len(created)
	for _, tc := range []struct {
		limit int
		order string
		want  []string
	}{
		{4, store.OrderAsc, created},
		{31, store.OrderAsc, created},
		{4, store.OrderDesc, reversed(created)},
		{10, "", created}, // messages default to oldest first
	} {
		what := fmt.Sprintf("messages limit %d order %q", tc.limit, tc.order)
		equal(t, what, pageAll(t, what, tc.limit, tc.order, n, list, msgID), tc.want)
	}
}

func testBadCursors(t *testing.T, st store.Store) {
	c := ctx(t)
	a, b := store.NewID(store.PrefixUser), store.NewID(store.PrefixUser)
	convA, msgsA := newConversation(t, st, a, "hi")
	otherA, otherMsgs := newConversation(t, st, a, "other")
	convB, _ := newConversation(t, st, b, "b's")

	for _, after := range []string{
		"garbage",
		msgsA[0].ID,                           // wrong kind of id
		"conv_",                               // prefix alone
		store.NewID(store.PrefixConversation), // well-formed, never existed
		convB.ID,                              // another user's
	} {
		_, _, err := st.ListConversations(c, a, store.ConversationFilter{}, store.Page{Limit: 10, After: after})
		wantErr(t, "ListConversations after "+after, err, store.ErrBadCursor)
	}
	for _, after := range []string{
		"garbage",
		convA.ID, // wrong kind of id
		store.NewID(store.PrefixMessage),
		otherMsgs[0].ID, // same user, another conversation
	} {
		_, _, err := st.ListMessages(c, a, convA.ID, store.Page{Limit: 10, After: after})
		wantErr(t, "ListMessages after "+after, err, store.ErrBadCursor)
	}
	// Listing someone else's conversation is not found, cursor or not.
	_, _, err := st.ListMessages(c, b, otherA.ID, store.Page{Limit: 10, After: otherMsgs[0].ID})
	wantErr(t, "ListMessages of another user's conversation", err, store.ErrNotFound)
}

// testConversationHistory: the conversation and all its messages, oldest
// first, in one call; only for the owner.
func testConversationHistory(t *testing.T, st store.Store) {
	c := ctx(t)
	user, other := store.NewID(store.PrefixUser), store.NewID(store.PrefixUser)

	// Empty: the conversation and an empty, non-nil list.
	empty := &store.Conversation{UserID: user, Title: "empty", Metadata: map[string]string{"k": "v"}}
	must(t, st.CreateConversation(c, empty, nil))
	conv, hist, err := st.ConversationHistory(c, user, empty.ID)
	must(t, err)
	if hist == nil || len(hist) != 0 {
		t.Errorf("history of an empty conversation = %#v, want an empty list", hist)
	}
	sameTime(t, "CreatedAt", conv.CreatedAt, empty.CreatedAt)
	sameTime(t, "UpdatedAt", conv.UpdatedAt, empty.UpdatedAt)
	conv.CreatedAt, conv.UpdatedAt = empty.CreatedAt, empty.UpdatedAt
	equal(t, "conversation of an empty history", conv, empty)

	// Order: creation order, also for messages with one timestamp, across
	// the initial messages and several appends.
	full, initial := newConversation(t, st, user, "sys", "hi")
	want := []*store.Message{initial[0], initial[1]}
	same := time.Now().UTC().Truncate(time.Millisecond)
	for turn := range 5 {
		q := &store.Message{Role: store.RoleUser, Content: nth("q", turn), CreatedAt: same}
		a := &store.Message{Role: store.RoleAssistant, Content: nth("a", turn), CreatedAt: same, Model: "m",
			Status: store.StatusIncomplete, Usage: &store.Usage{PromptTokens: turn, CompletionTokens: 1, TotalTokens: turn + 1}}
		must(t, st.AppendMessages(c, user, full.ID, []*store.Message{q, a}))
		want = append(want, q, a)
	}
	conv, hist, err = st.ConversationHistory(c, user, full.ID)
	must(t, err)
	if conv.ID != full.ID || conv.UserID != user || conv.Title != full.Title || conv.Model != "m" || conv.Metadata == nil {
		t.Errorf("conversation = %+v, want %s of %s, model m", conv, full.ID, user)
	}
	got, err := st.GetConversation(c, user, full.ID)
	must(t, err)
	equal(t, "conversation as GetConversation reads it", conv, got)
	if len(hist) != len(want) {
		t.Fatalf("history has %d messages, want %d", len(hist), len(want))
	}
	for i, w := range want {
		sameTime(t, "message CreatedAt", hist[i].CreatedAt, w.CreatedAt)
		hist[i].CreatedAt = w.CreatedAt
		equal(t, fmt.Sprintf("message %d", i), hist[i], *w)
	}
	old, err := st.History(c, user, full.ID)
	must(t, err)
	equal(t, "the same as History", ids(hist, msgID), ids(old, msgID))

	// Ownership: another user's, a missing or a deleted conversation is not found.
	_, _, err = st.ConversationHistory(c, other, full.ID)
	wantErr(t, "ConversationHistory of another user's conversation", err, store.ErrNotFound)
	_, _, err = st.ConversationHistory(c, user, "conv_missing")
	wantErr(t, "ConversationHistory of a missing conversation", err, store.ErrNotFound)
	must(t, st.DeleteConversation(c, user, full.ID))
	_, _, err = st.ConversationHistory(c, user, full.ID)
	wantErr(t, "ConversationHistory of a deleted conversation", err, store.ErrNotFound)
}

// A page with MaxBytes ends once its items' text reaches the budget: large
// messages come a few at a time, each page at least one, with no gap or
// repeat across pages, and hasMore false only at the end.
func testPageBytes(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user}
	must(t, st.CreateConversation(c, conv, nil))
	sizes := []int{10, 3000, 10, 10, 9000, 10, 2500, 2500}
	var want []string
	for i, n := range sizes {
		m := &store.Message{Role: store.RoleUser, Content: strings.Repeat(string(rune('a'+i)), n)}
		must(t, st.AppendMessages(c, user, conv.ID, []*store.Message{m}))
		want = append(want, m.ID)
	}
	var got []string
	after := ""
	for page := 0; page < 20; page++ {
		items, more, err := st.ListMessages(c, user, conv.ID, store.Page{Limit: 100, After: after, MaxBytes: 4000})
		must(t, err)
		if len(items) == 0 {
			t.Fatalf("page %d is empty (hasMore %v)", page, more)
		}
		total := 0
		for i, m := range items {
			if i > 0 && total >= 4000 {
				t.Fatalf("page %d went on past the budget: %d bytes before item %d", page, total, i)
			}
			total += len(m.Content) + 200
			got = append(got, m.ID)
		}
		if !more {
			break
		}
		after = got[len(got)-1]
	}
	equal(t, "messages over byte-bounded pages", got, want)
	// The budget is per page: a large one holds everything.
	all, more, err := st.ListMessages(c, user, conv.ID, store.Page{Limit: 100, MaxBytes: 1 << 20})
	must(t, err)
	if len(all) != len(sizes) || more {
		t.Fatalf("one roomy page: %d items, hasMore %v", len(all), more)
	}
}
