package server

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/janhq/jan/internal/store"
)

// The memo's bytes are always what encoding the history afresh gives, as
// a conversation grows, is handed out shorter (an older read), loses a
// message, or is another conversation's; and bytes handed out earlier never
// change.
func TestHistoryJSON(t *testing.T) {
	var h historyJSON
	n := 0
	msg := func(role, content string) store.Message {
		n++
		return store.Message{ID: fmt.Sprintf("msg_%d", n), Role: role, Content: content}
	}
	stored := []store.Message{msg("user", "hi"), msg("assistant", `say "hello"`)}
	check := func(what string, history []store.Message) []byte {
		t.Helper()
		got := h.encoded("conv_1", history)
		if want := encodeHistory(nil, history); string(got) != string(want) {
			t.Fatalf("%s: %s, want %s", what, got, want)
		}
		var v []map[string]string
		if err := json.Unmarshal(messagesJSON(nil, got, nil), &v); err != nil || len(v) != len(history) {
			t.Fatalf("%s: not a JSON array of %d messages: %v %s", what, len(history), err, got)
		}
		return got
	}
	first := check("first", stored)
	kept := string(first)
	stored = append(stored, msg("user", "again\n"), msg("assistant", "ok"))
	check("grown", stored)
	if string(first) != kept {
		t.Fatalf("bytes handed out before changed: %s, want %s", first, kept)
	}
	check("an older, shorter read", stored[:3])
	check("grown again", stored)
	// A message deleted in the middle: the one at the entry's last place is
	// another now.
	stored = append(append([]store.Message(nil), stored[:1]...), stored[2:]...)
	check("a message deleted", stored)
	stored = append(stored, msg("user", "more"))
	check("then grown", stored)
	check("the first message deleted", stored[1:])
	check("empty", nil)
	// Read with two messages; then the second is deleted and two more are
	// appended: as long as the entry, the same first message, another at
	// the entry's last place.
	check("a new read", stored[:2])
	check("the second deleted, two appended", append([]store.Message{stored[0]}, stored[2], msg("user", "x")))
	if h.encoded("conv_2", stored[:1]); len(h.m) != 2 {
		t.Fatalf("%d conversations kept, want 2", len(h.m))
	}
}

func TestMessagesJSON(t *testing.T) {
	sys := "be brief"
	history := encodeHistory(nil, []store.Message{{Role: "user", Content: "a"}})
	extra := []json.RawMessage{json.RawMessage(`{"role":"user","content":"b"}`)}
	for _, c := range []struct {
		system  *string
		history []byte
		extra   []json.RawMessage
		want    string
	}{
		{nil, nil, nil, `[]`},
		{&sys, nil, nil, `[{"role":"system","content":"be brief"}]`},
		{&sys, history, extra, `[{"role":"system","content":"be brief"},{"role":"user","content":"a"},{"role":"user","content":"b"}]`},
		{nil, history, extra, `[{"role":"user","content":"a"},{"role":"user","content":"b"}]`},
		{nil, nil, extra, `[{"role":"user","content":"b"}]`},
	} {
		if got := string(messagesJSON(c.system, c.history, c.extra)); got != c.want {
			t.Errorf("messagesJSON = %s, want %s", got, c.want)
		}
	}
}
