package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// engineMessages records the messages of each engine request; last returns
// those of the latest.
func (e *env) engineMessages() (last func() []map[string]any) {
	var mu sync.Mutex
	var latest []map[string]any
	e.engineHook = func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		var req struct {
			Messages []map[string]any `json:"messages"`
		}
		_ = json.Unmarshal(b, &req)
		mu.Lock()
		latest = req.Messages
		mu.Unlock()
	}
	return func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return latest
	}
}

func (e *env) newProject(tok, name, instruction string) projectJSON {
	e.t.Helper()
	r := e.do("POST", "/v1/projects", tok, map[string]any{"name": name, "instruction": instruction}, nil)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create project: %d %s", r.status, r.body)
	}
	var p projectJSON
	r.decode(e.t, &p)
	return p
}

func TestProjects(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		tok, other := e.guest(), e.guest()
		r := e.do("POST", "/v1/projects", tok, map[string]any{"name": " Research ", "instruction": "answer in French"}, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		raw := map[string]json.RawMessage{}
		r.decode(t, &raw)
		for _, k := range []string{"id", "object", "name", "instruction", "is_favorite", "is_archived", "archived_at", "created_at", "updated_at"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("project lacks %q: %s", k, r.body)
			}
		}
		var p projectJSON
		r.decode(t, &p)
		if !strings.HasPrefix(p.ID, "proj_") || p.Object != "project" || p.Name != "Research" || p.Instruction != "answer in French" ||
			p.IsFavorite || p.IsArchived || p.ArchivedAt != nil || p.CreatedAt == 0 {
			t.Errorf("created project: %s", r.body)
		}

		// Refusals: duplicate name, bad names, another user's project.
		for _, c := range []struct {
			body        any
			status      int
			code, param string
		}{
			{map[string]any{"name": "Research"}, 409, "project_name_taken", "name"},
			{map[string]any{"instruction": "x"}, 400, "missing_field", "name"},
			{map[string]any{"name": "  "}, 400, "missing_field", "name"},
			{map[string]any{"name": strings.Repeat("n", 257)}, 400, "name_too_long", "name"},
			{map[string]any{"name": "ok", "instruction": strings.Repeat("i", 32<<10+1)}, 400, "instruction_too_long", "instruction"},
			{`{"name":"a\u0000b"}`, 400, "invalid_text", "name"},
			{map[string]any{"name": 3}, 400, "invalid_type", "name"},
		} {
			r := e.do("POST", "/v1/projects", tok, c.body, nil)
			if r.status != c.status || r.errorCode(t) != c.code || r.param(t) != c.param {
				t.Errorf("create %v: %d %s, want %d %s param %s", c.body, r.status, r.body, c.status, c.code, c.param)
			}
		}
		if r := e.do("POST", "/v1/projects", other, map[string]any{"name": "Research"}, nil); r.status != http.StatusCreated {
			t.Errorf("another user's project of the same name: %d %s", r.status, r.body)
		}
		for _, req := range [][2]string{{"GET", ""}, {"PATCH", `{"name":"mine"}`}, {"DELETE", ""}} {
			var body any
			if req[1] != "" {
				body = req[1]
			}
			if r := e.do(req[0], "/v1/projects/"+p.ID, other, body, nil); r.status != 404 || r.errorCode(t) != "project_not_found" {
				t.Errorf("%s another user's project: %d %s", req[0], r.status, r.body)
			}
		}

		// Update: favourite, archive (archived_at set), rename onto a taken name.
		second := e.newProject(tok, "Travel", "")
		r = e.do("PATCH", "/v1/projects/"+p.ID, tok, map[string]any{"is_favorite": true, "is_archived": true}, nil)
		var up projectJSON
		r.decode(t, &up)
		if r.status != 200 || !up.IsFavorite || !up.IsArchived || up.ArchivedAt == nil || up.Name != "Research" {
			t.Errorf("archive: %d %s", r.status, r.body)
		}
		r = e.do("PATCH", "/v1/projects/"+p.ID, tok, map[string]any{"is_archived": false}, nil)
		r.decode(t, &up)
		if up.IsArchived || up.ArchivedAt != nil {
			t.Errorf("unarchive: %s", r.body)
		}
		if r := e.do("PATCH", "/v1/projects/"+second.ID, tok, map[string]any{"name": "Research"}, nil); r.status != 409 {
			t.Errorf("rename onto a taken name: %d %s", r.status, r.body)
		}

		// List: newest first, paginated, next_cursor beside next_after.
		r = e.do("GET", "/v1/projects?limit=1", tok, nil, nil)
		var page struct {
			Data       []projectJSON `json:"data"`
			HasMore    bool          `json:"has_more"`
			NextAfter  *string       `json:"next_after"`
			NextCursor *string       `json:"next_cursor"`
		}
		r.decode(t, &page)
		if r.status != 200 || len(page.Data) != 1 || page.Data[0].ID != second.ID || !page.HasMore ||
			page.NextCursor == nil || page.NextAfter == nil || *page.NextCursor != second.ID {
			t.Fatalf("first page: %d %s", r.status, r.body)
		}
		r = e.do("GET", "/v1/projects?limit=1&after="+*page.NextCursor, tok, nil, nil)
		page.NextCursor = nil
		r.decode(t, &page)
		if len(page.Data) != 1 || page.Data[0].ID != p.ID || page.HasMore || page.NextCursor != nil || !strings.Contains(string(r.body), `"next_cursor":null`) {
			t.Errorf("second page: %s", r.body)
		}

		// Conversations in projects: create and move in, filter, total.
		r = e.do("POST", "/v1/conversations", tok, map[string]any{"title": "in", "project_id": p.ID}, nil)
		var conv struct {
			ID        string  `json:"id"`
			ProjectID *string `json:"project_id"`
		}
		r.decode(t, &conv)
		if r.status != 201 || conv.ProjectID == nil || *conv.ProjectID != p.ID {
			t.Fatalf("create in a project: %d %s", r.status, r.body)
		}
		loose := e.newConversation(tok, "")
		moved := e.newConversation(tok, "")
		r = e.do("PATCH", "/v1/conversations/"+moved, tok, map[string]any{"project_id": p.ID}, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"project_id":"`+p.ID+`"`) {
			t.Fatalf("move into a project: %d %s", r.status, r.body)
		}
		foreign := e.newProject(other, "Theirs", "")
		for _, c := range []struct{ method, path string }{{"POST", "/v1/conversations"}, {"PATCH", "/v1/conversations/" + loose}} {
			for _, id := range []string{foreign.ID, "proj_missing"} {
				r := e.do(c.method, c.path, tok, map[string]any{"project_id": id}, nil)
				if r.status != 404 || r.errorCode(t) != "project_not_found" || r.param(t) != "project_id" {
					t.Errorf("%s %s with project %s: %d %s", c.method, c.path, id, r.status, r.body)
				}
			}
		}
		if r := e.do("PATCH", "/v1/conversations/"+loose, tok, map[string]any{"project_id": 7}, nil); r.status != 400 || r.param(t) != "project_id" {
			t.Errorf("a number as project_id: %d %s", r.status, r.body)
		}
		type convList struct {
			Data []struct {
				ID        string  `json:"id"`
				ProjectID *string `json:"project_id"`
			} `json:"data"`
			HasMore bool `json:"has_more"`
			Total   *int `json:"total"`
		}
		list := func(query string) convList {
			t.Helper()
			r := e.do("GET", "/v1/conversations"+query, tok, nil, nil)
			if r.status != 200 {
				t.Fatalf("list %s: %d %s", query, r.status, r.body)
			}
			var l convList
			r.decode(t, &l)
			if l.Total == nil {
				t.Fatalf("list %s has no total: %s", query, r.body)
			}
			return l
		}
		if l := list("?project_id=" + p.ID + "&limit=1"); len(l.Data) != 1 || l.Data[0].ID != moved || !l.HasMore || *l.Total != 2 {
			t.Errorf("the project's conversations, first page: %+v", l)
		}
		if l := list("?limit=1"); *l.Total != 3 {
			t.Errorf("all conversations: total %d, want 3", *l.Total)
		}
		if l := list("?project_id=" + foreign.ID); len(l.Data) != 0 || *l.Total != 0 {
			t.Errorf("another user's project as a filter: %+v", l)
		}
		// Out of the project with null.
		r = e.do("PATCH", "/v1/conversations/"+moved, tok, map[string]any{"project_id": nil}, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"project_id":null`) {
			t.Errorf("take out of the project: %d %s", r.status, r.body)
		}

		// Delete: the project goes, its conversations stay, out of it.
		r = e.do("DELETE", "/v1/projects/"+p.ID, tok, nil, nil)
		if r.status != 200 || string(r.body) != `{"deleted":true,"id":"`+p.ID+`","object":"project"}` {
			t.Errorf("delete: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/v1/projects/"+p.ID, tok, nil, nil); r.status != 404 {
			t.Errorf("get after delete: %d", r.status)
		}
		if r := e.do("DELETE", "/v1/projects/"+p.ID, tok, nil, nil); r.status != 404 {
			t.Errorf("delete again: %d", r.status)
		}
		r = e.do("GET", "/v1/conversations/"+conv.ID, tok, nil, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"project_id":null`) {
			t.Errorf("conversation of the deleted project: %d %s", r.status, r.body)
		}
	})
}

// The project's instruction reaches the engine as the first system message
// of a run, a chat on a conversation and a response on a conversation.
func TestProjectInstructionReachesEngine(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		last := e.engineMessages()
		tok := e.guest()
		p := e.newProject(tok, "French", "Answer in French.")
		r := e.do("POST", "/v1/conversations", tok, map[string]any{"project_id": p.ID,
			"items": []map[string]any{{"type": "message", "role": "user", "content": "hello"}}}, nil)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var conv struct{ ID string }
		r.decode(t, &conv)
		wantFirst := func(what string) {
			t.Helper()
			msgs := last()
			if len(msgs) < 2 || msgs[0]["role"] != "system" || msgs[0]["content"] != "Answer in French." {
				t.Errorf("%s: the engine got %v, want the project's instruction first", what, msgs)
			}
			n := 0
			for _, m := range msgs {
				if m["content"] == "Answer in French." {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: the instruction is sent %d times", what, n)
			}
		}
		if r := e.do("POST", "/v1/conversations/"+conv.ID+"/runs", tok, map[string]any{"model": testModel, "stream": false}, nil); r.status != 200 {
			t.Fatalf("run: %d %s", r.status, r.body)
		}
		wantFirst("run")
		for _, c := range []any{conv.ID, map[string]any{"id": conv.ID}} {
			r := e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "conversation": c,
				"messages": []map[string]any{{"role": "user", "content": "again"}}}, nil)
			if r.status != 200 {
				t.Fatalf("chat: %d %s", r.status, r.body)
			}
			wantFirst("chat")
		}
		if r := e.do("POST", "/v1/responses", tok, map[string]any{"model": testModel, "conversation": conv.ID, "input": "more"}, nil); r.status != 200 {
			t.Fatalf("response: %d %s", r.status, r.body)
		}
		wantFirst("response")
		// The stored history has no copy of it.
		for _, m := range e.messages(tok, conv.ID) {
			if m.Content == "Answer in French." {
				t.Errorf("the instruction was stored as a message: %+v", m)
			}
		}
		// A new instruction applies to the next turn; none, none is sent.
		e.do("PATCH", "/v1/projects/"+p.ID, tok, map[string]any{"instruction": ""}, nil)
		e.do("POST", "/v1/conversations/"+conv.ID+"/runs", tok, map[string]any{"model": testModel, "stream": false}, nil)
		if msgs := last(); len(msgs) == 0 || msgs[0]["role"] == "system" {
			t.Errorf("run after the instruction was cleared: %v", msgs)
		}
	})
}

// A chat's "conversation" may be an object, as jan-server's clients send
// it: {"id"} chats in that conversation, {} or {"title"} starts one; the
// answer names the conversation, in its JSON and in the first chunk.
func TestChatConversationObject(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		tok := e.guest()
		chat := func(conv any, stream bool, prompt string) response {
			t.Helper()
			return e.do("POST", "/v1/chat/completions", tok, map[string]any{"model": testModel, "conversation": conv, "stream": stream,
				"messages": []map[string]any{{"role": "user", "content": prompt}}}, nil)
		}
		type tag struct {
			Conversation *struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"conversation"`
			Object string `json:"object"`
		}
		// {} starts a conversation titled after the first message.
		r := chat(map[string]any{}, false, "Plan a trip to Lisbon\nin May")
		var got tag
		r.decode(t, &got)
		if r.status != 200 || got.Conversation == nil || !strings.HasPrefix(got.Conversation.ID, "conv_") ||
			got.Conversation.Title != "Plan a trip to Lisbon" || got.Object != "chat.completion" {
			t.Fatalf("chat with {}: %d %s", r.status, r.body)
		}
		created := got.Conversation.ID
		msgs := e.messages(tok, created)
		if len(msgs) != 2 || msgs[0].Role != "user" || msgs[1].Role != "assistant" || msgs[1].Content == "" {
			t.Errorf("the new conversation holds %+v", msgs)
		}
		if r := e.do("GET", "/v1/conversations/"+created, tok, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"model":"`+testModel+`"`) {
			t.Errorf("the new conversation: %d %s", r.status, r.body)
		}

		// {"id"} and the plain id chat in it; the stream's first chunk (only) names it.
		for _, conv := range []any{map[string]any{"id": created}, created} {
			r := chat(conv, true, "and in June?")
			events := sseEvents(t, r.body)
			if r.status != 200 || len(events) < 3 {
				t.Fatalf("stream: %d %s", r.status, r.body)
			}
			var first, second tag
			if err := json.Unmarshal([]byte(events[0]), &first); err != nil || first.Conversation == nil ||
				first.Conversation.ID != created || first.Conversation.Title != "Plan a trip to Lisbon" || first.Object != "chat.completion.chunk" {
				t.Errorf("first chunk: %s (%v)", events[0], err)
			}
			if err := json.Unmarshal([]byte(events[1]), &second); err != nil || second.Conversation != nil {
				t.Errorf("second chunk: %s", events[1])
			}
		}
		if n := len(e.messages(tok, created)); n != 6 {
			t.Errorf("after two more chats the conversation has %d messages, want 6", n)
		}

		// A title given; a stream that starts a conversation names it first.
		r = chat(map[string]any{"title": "Named"}, true, "hi")
		events := sseEvents(t, r.body)
		got = tag{}
		if err := json.Unmarshal([]byte(events[0]), &got); err != nil || got.Conversation == nil || got.Conversation.Title != "Named" {
			t.Fatalf("stream with {title}: %s", r.body)
		}
		if n := len(e.messages(tok, got.Conversation.ID)); n != 2 {
			t.Errorf("the streamed new conversation has %d messages", n)
		}

		// Refusals, before the engine and before storing anything.
		before := e.engine.Requests()
		other := e.newConversation(e.guest(), "")
		for _, c := range []struct {
			body        map[string]any
			status      int
			code, param string
		}{
			{map[string]any{"conversation": map[string]any{"id": other}}, 404, "conversation_not_found", "conversation"},
			{map[string]any{"conversation": map[string]any{"id": "conv_missing"}}, 404, "conversation_not_found", "conversation"},
			{map[string]any{"conversation": map[string]any{}, "store": false}, 400, "invalid_value", "store"},
			{map[string]any{"conversation": map[string]any{"title": strings.Repeat("t", 257)}}, 400, "invalid_title", "conversation.title"},
			{map[string]any{"conversation": map[string]any{"id": 5}}, 400, "invalid_type", "conversation"},
			{map[string]any{"conversation": 5}, 400, "invalid_type", "conversation"},
		} {
			body := map[string]any{"model": testModel, "messages": []map[string]any{{"role": "user", "content": "x"}}}
			for k, v := range c.body {
				body[k] = v
			}
			r := e.do("POST", "/v1/chat/completions", tok, body, nil)
			if r.status != c.status || r.errorCode(t) != c.code || r.param(t) != c.param {
				t.Errorf("%v: %d %s, want %d %s param %s", c.body, r.status, r.body, c.status, c.code, c.param)
			}
		}
		if n := e.engine.Requests() - before; n != 0 {
			t.Errorf("refused chats reached the engine %d times", n)
		}
		// A chat the engine refuses starts no conversation.
		count := func() int {
			var l struct{ Total int }
			e.do("GET", "/v1/conversations", tok, nil, nil).decode(t, &l)
			return l.Total
		}
		n := count()
		if r := chat(map[string]any{}, false, "[fake:status=500]"); r.status < 500 || strings.Contains(string(r.body), "conv_") {
			t.Errorf("a failed chat with {}: %d %s", r.status, r.body)
		}
		if count() != n {
			t.Errorf("a failed chat with {} left a conversation behind")
		}
	})
}
