package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Paging through conversations and messages visits each object once, in
// exact creation order, with next_after null exactly on the last page.
func TestPaginationAndRequestIDs(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	var ids []string
	for i := 0; i < 7; i++ {
		r := e.do("POST", "/v1/conversations", tok, map[string]any{"title": fmt.Sprint(i)}, nil)
		var c struct{ ID string }
		r.decode(t, &c)
		ids = append(ids, c.ID)
	}
	type page struct {
		Data      []struct{ ID string }
		FirstID   *string `json:"first_id"`
		LastID    *string `json:"last_id"`
		HasMore   bool    `json:"has_more"`
		NextAfter *string `json:"next_after"`
	}
	for _, order := range []string{"desc", "asc", ""} {
		var seen []string
		after := ""
		for n := 0; n < 10; n++ {
			q := "/v1/conversations?limit=3"
			if order != "" {
				q += "&order=" + order
			}
			if after != "" {
				q += "&after=" + after
			}
			var p page
			r := e.do("GET", q, tok, nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", q, r.status, r.body)
			}
			r.decode(t, &p)
			for _, d := range p.Data {
				seen = append(seen, d.ID)
			}
			if p.HasMore != (p.NextAfter != nil) || (len(p.Data) > 0 && (*p.FirstID != p.Data[0].ID || *p.LastID != p.Data[len(p.Data)-1].ID)) {
				t.Fatalf("inconsistent page %s", r.body)
			}
			if !p.HasMore {
				break
			}
			after = *p.NextAfter
		}
		want := make([]string, len(ids))
		for i := range ids {
			want[i] = ids[i]
			if order != "asc" { // newest first by default
				want[i] = ids[len(ids)-1-i]
			}
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("order %q: saw %v, want %v", order, seen, want)
		}
	}

	// A sane X-Request-Id is echoed; an insane one is replaced.
	r := e.do("GET", "/healthz", "", nil, map[string]string{"X-Request-Id": "client-id-1"})
	if r.header.Get("X-Request-Id") != "client-id-1" {
		t.Errorf("request id not echoed: %q", r.header.Get("X-Request-Id"))
	}
	r = e.do("GET", "/v1/models", "", nil, map[string]string{"X-Request-Id": "bad id with spaces"})
	if got := r.header.Get("X-Request-Id"); got == "bad id with spaces" || len(got) != 36 {
		t.Errorf("insane request id kept: %q", got)
	}
	var env struct {
		Error struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	r.decode(t, &env)
	if env.Error.RequestID != r.header.Get("X-Request-Id") {
		t.Errorf("error request_id %q != header %q", env.Error.RequestID, r.header.Get("X-Request-Id"))
	}
}

// A chat completion on a conversation sends the stored history first and
// appends the new turn before the response ends; "store": false only reads.
func TestChatCompletionWithConversation(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	conv := e.newConversation(tok, "earlier question")
	var mu sync.Mutex
	var bodies []string
	e.engineHook = func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}
	msg := func(c string) []map[string]string { return []map[string]string{{"role": "user", "content": c}} }
	r := e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "conversation": conv, "stream": true, "messages": msg("second")}, nil)
	if ev := sseEvents(t, r.body); r.status != 200 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	msgs := e.messages(tok, conv)
	if len(msgs) != 3 || msgs[1].Content != "second" || msgs[2].Role != "assistant" || msgs[2].Status != "completed" || msgs[2].Content == "" {
		t.Fatalf("stored = %+v", msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], "earlier question") || strings.Contains(bodies[0], `"conversation"`) {
		t.Errorf("engine request = %v, want the history and no jan-only fields", bodies)
	}
	mu.Unlock()
	r = e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "conversation": conv, "store": false, "messages": msg("third")}, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := len(e.messages(tok, conv)); n != 3 {
		t.Errorf("store:false stored messages: %d, want 3", n)
	}
	mu.Lock()
	if !strings.Contains(bodies[1], "second") || strings.Contains(bodies[1], `"store"`) {
		t.Errorf("engine request = %s", bodies[1])
	}
	// The conversation remembers its model: a run without one uses it.
	var c conversationJSON
	e.do("GET", "/v1/conversations/"+conv, tok, nil, nil).decode(t, &c)
	if c.Model == nil || *c.Model != testModel {
		t.Errorf("conversation model = %v", c.Model)
	}
}
