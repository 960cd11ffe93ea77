package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func item(id string) store.ResponseItem {
	return store.ResponseItem{ID: id, Data: []byte(fmt.Sprintf(`{"type":"message","id":%q}`, id))}
}

func itemIDs(items []store.ResponseItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// Responses: created with their input, finished once with their output
// (and the conversation's messages), read back by their owner only, paged,
// chained, deleted with everything of theirs.
func testResponses(t *testing.T, st store.Store) {
	c := ctx(t)
	user, other := store.NewID(store.PrefixUser), store.NewID(store.PrefixUser)
	first := &store.Response{UserID: user, Model: "m", Params: []byte(`{"store":true}`)}
	must(t, st.CreateResponse(c, first, []store.ResponseItem{item("msg_in1")}))
	wantPrefix(t, "response id", first.ID, store.PrefixResponse)
	got, err := st.GetResponse(c, user, first.ID)
	must(t, err)
	if got.Status != store.ResponseInProgress || got.Model != "m" || string(got.Params) == "" || got.CompletedAt != nil {
		t.Fatalf("created response read back as %+v", got)
	}
	_, err = st.GetResponse(c, other, first.ID)
	wantErr(t, "another user's response", err, store.ErrNotFound)

	first.Status, first.Usage = "completed", &store.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}
	must(t, st.FinishResponse(c, first, store.ResponseEnd{Output: []store.ResponseItem{item("msg_out1"), item("fc_out1")},
		Events: []store.ResponseEvent{{Seq: 0, Type: "response.completed", Data: []byte(`{}`)}}}))
	got, err = st.GetResponse(c, user, first.ID)
	must(t, err)
	if got.Status != "completed" || got.Usage == nil || got.Usage.TotalTokens != 7 || got.CompletedAt == nil {
		t.Fatalf("finished response read back as %+v", got)
	}
	wantErr(t, "finishing twice", st.FinishResponse(c, first, store.ResponseEnd{}), store.ErrConflict)
	if evs, err := st.ResponseEvents(c, user, first.ID, -1); err != nil || len(evs) != 1 || evs[0].Type != "response.completed" {
		t.Fatalf("events stored with the outcome: %+v, %v", evs, err)
	}

	// A chain: the context of the second is the first's items, then its own input.
	conv, _ := newConversation(t, st, user, "hello")
	second := &store.Response{UserID: user, PreviousResponseID: first.ID, ConversationID: conv.ID}
	must(t, st.CreateResponse(c, second, []store.ResponseItem{item("msg_in2"), item("fco_in2")}))
	items, err := st.ResponseContext(c, user, second.ID)
	must(t, err)
	equal(t, "context", itemIDs(items), []string{"msg_in1", "msg_out1", "fc_out1", "msg_in2", "fco_in2"})
	if !items[0].Input || items[1].Input || string(items[0].Data) == "" {
		t.Errorf("context items: %+v", items)
	}
	_, err = st.ResponseContext(c, other, second.ID)
	wantErr(t, "another user's chain", err, store.ErrNotFound)

	// Finishing a response of a conversation appends its messages there.
	second.Status = "completed"
	must(t, st.FinishResponse(c, second, store.ResponseEnd{Output: []store.ResponseItem{item("msg_out2")}, Messages: []*store.Message{
		{Role: store.RoleUser, Content: "question"}, {Role: store.RoleAssistant, Content: "answer", Model: "m"}}}))
	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	if len(hist) != 3 || hist[2].Content != "answer" {
		t.Fatalf("conversation after the response: %+v", hist)
	}

	// Input items page, newest first when asked.
	page, more, err := st.ListResponseItems(c, user, second.ID, true, store.Page{Limit: 1, Order: store.OrderDesc})
	must(t, err)
	if len(page) != 1 || page[0].ID != "fco_in2" || !more {
		t.Fatalf("first page: %v, more %v", itemIDs(page), more)
	}
	page, more, err = st.ListResponseItems(c, user, second.ID, true, store.Page{Limit: 1, Order: store.OrderDesc, After: "fco_in2"})
	must(t, err)
	if len(page) != 1 || page[0].ID != "msg_in2" || more {
		t.Fatalf("second page: %v, more %v", itemIDs(page), more)
	}
	_, _, err = st.ListResponseItems(c, user, second.ID, true, store.Page{Limit: 1, After: "msg_in1"})
	wantErr(t, "a cursor of another response", err, store.ErrBadCursor)
	_, _, err = st.ListResponseItems(c, other, second.ID, true, store.Page{Limit: 10})
	wantErr(t, "another user's items", err, store.ErrNotFound)

	// Events: stored in order, again without harm, read after any number.
	must(t, st.AppendResponseEvents(c, second.ID, []store.ResponseEvent{{Seq: 0, Type: "a", Data: []byte(`{}`)}, {Seq: 1, Type: "b", Data: []byte(`{}`)}}))
	must(t, st.AppendResponseEvents(c, second.ID, []store.ResponseEvent{{Seq: 1, Type: "b", Data: []byte(`{}`)}, {Seq: 2, Type: "c", Data: []byte(`{}`)}}))
	evs, err := st.ResponseEvents(c, user, second.ID, 0)
	must(t, err)
	if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Type != "c" {
		t.Fatalf("events after 0: %+v", evs)
	}
	if evs, _ := st.ResponseEvents(c, other, second.ID, -1); len(evs) != 0 {
		t.Fatal("another user reads the events")
	}

	// Delete takes the items and events along; the chain of what follows
	// starts after the hole.
	must(t, st.DeleteResponse(c, user, first.ID))
	_, err = st.GetResponse(c, user, first.ID)
	wantErr(t, "a deleted response", err, store.ErrNotFound)
	items, err = st.ResponseContext(c, user, second.ID)
	must(t, err)
	equal(t, "context after the first was deleted", itemIDs(items), []string{"msg_in2", "fco_in2", "msg_out2"})
	wantErr(t, "deleting twice", st.DeleteResponse(c, user, first.ID), store.ErrNotFound)
}

// A response a dead process left in progress ends incomplete with its
// checkpointed output.
func testRecoverResponses(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	r := &store.Response{UserID: user, Owner: "host/127.0.0.1:8080"}
	must(t, st.CreateResponse(c, r, []store.ResponseItem{item("msg_rin")}))
	live := &store.Response{UserID: user, Owner: "other/127.0.0.1:9090"}
	must(t, st.CreateResponse(c, live, nil))
	must(t, st.CheckpointResponse(c, r.ID, []byte(`[{"type":"message","id":"msg_partial","status":"incomplete"}]`)))
	done, err := st.RecoverResponses(c, "host/127.0.0.1:8080", time.Now().Add(-time.Hour))
	must(t, err)
	if len(done) != 1 || done[0].ID != r.ID {
		t.Fatalf("recovered %+v", done)
	}
	got, err := st.GetResponse(c, user, r.ID)
	must(t, err)
	if got.Status != "incomplete" || got.IncompleteReason != "interrupted" {
		t.Fatalf("recovered response: %+v", got)
	}
	out, _, err := st.ListResponseItems(c, user, r.ID, false, store.Page{Limit: 10})
	must(t, err)
	equal(t, "recovered output", itemIDs(out), []string{"msg_partial"})
	if got, _ := st.GetResponse(c, user, live.ID); got.Status != store.ResponseInProgress {
		t.Fatalf("a live response was recovered: %+v", got)
	}
}
