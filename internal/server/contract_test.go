package server

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
)

// User B gets 404 on every conversation, message, item and run of user A.
func TestOwnership(t *testing.T) {
	e := newEnv(t, envOptions{})
	a, b := e.guest(), e.guest()
	conv := e.newConversation(a, "mine")
	res := e.do("POST", "/v1/conversations/"+conv+"/runs", a, map[string]any{}, nil)
	var run runJSON
	res.decode(t, &run)
	msg := run.Message.ID

	c := "/v1/conversations/" + conv
	cases := []struct{ method, path string }{
		{"GET", c}, {"PATCH", c}, {"POST", c}, {"DELETE", c},
		{"GET", c + "/messages"}, {"POST", c + "/messages"},
		{"GET", c + "/items"}, {"POST", c + "/items"},
		{"GET", c + "/items/" + msg}, {"DELETE", c + "/items/" + msg},
		{"POST", c + "/runs"}, {"GET", c + "/runs/" + run.ID}, {"POST", c + "/runs/" + run.ID + "/cancel"},
	}
	bodies := map[string]any{
		"PATCH":                   map[string]any{"title": "stolen"},
		"POST " + c:               map[string]any{"title": "stolen"},
		"POST " + c + "/messages": map[string]any{"role": "user", "content": "x"},
		"POST " + c + "/items":    map[string]any{"items": []map[string]any{{"type": "message", "role": "user", "content": "x"}}},
		"POST " + c + "/runs":     map[string]any{},
	}
	for _, tc := range cases {
		body := bodies[tc.method+" "+tc.path]
		if body == nil {
			body = bodies[tc.method]
		}
		if body == nil && tc.method == "POST" {
			body = map[string]any{}
		}
		r := e.do(tc.method, tc.path, b, body, nil)
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s as B: %d %s, want 404", tc.method, tc.path, r.status, r.body)
			continue
		}
		r.errorCode(t)
		if strings.Contains(string(r.body), "mine") {
			t.Errorf("%s %s leaks A's data: %s", tc.method, tc.path, r.body)
		}
	}
	// B's chat completion into A's conversation is 404 too.
	r := e.do("POST", "/v1/chat/completions", b, map[string]any{"model": testModel, "conversation": conv,
		"messages": []map[string]string{{"role": "user", "content": "x"}}}, nil)
	if r.status != http.StatusNotFound || r.param(t) != "conversation" {
		t.Errorf("chat into A's conversation: %d %s", r.status, r.body)
	}
	// B's list is empty; A's data is untouched.
	r = e.do("GET", "/v1/conversations", b, nil, nil)
	var l struct{ Data []json.RawMessage }
	r.decode(t, &l)
	if len(l.Data) != 0 {
		t.Errorf("B lists %d conversations", len(l.Data))
	}
	if msgs := e.messages(a, conv); len(msgs) != 2 {
		t.Errorf("A's messages = %d, want 2", len(msgs))
	}
}

// Every bad input gets its status and an error envelope.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	conv := e.newConversation(tok, "")
	chat := "/v1/chat/completions"
	big := `{"model":"` + testModel + `","messages":[{"role":"user","content":"` + strings.Repeat("x", 5<<20) + `"}]}`
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, param               string
	}{
		{"malformed json", "POST", chat, tok, `{"model":`, 400, "invalid_json", ""},
		{"not an object", "POST", chat, tok, `[1,2]`, 400, "invalid_json", ""},
		{"empty body", "POST", chat, tok, ``, 400, "invalid_json", ""},
		{"model wrong type", "POST", chat, tok, `{"model":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_type", "model"},
		{"model missing", "POST", chat, tok, `{"messages":[{"role":"user","content":"x"}]}`, 400, "missing_field", "model"},
		{"messages wrong type", "POST", chat, tok, `{"model":"fake-model","messages":"hi"}`, 400, "invalid_type", "messages"},
		{"empty messages", "POST", chat, tok, `{"model":"fake-model","messages":[]}`, 400, "empty_messages", "messages"},
		{"unknown role", "POST", chat, tok, `{"model":"fake-model","messages":[{"role":"user","content":"a"},{"role":"wizard","content":"b"}]}`, 400, "invalid_role", "messages[1].role"},
		{"content wrong type", "POST", chat, tok, `{"model":"fake-model","messages":[{"role":"user","content":5}]}`, 400, "invalid_type", "messages[0].content"},
		{"stream wrong type", "POST", chat, tok, `{"model":"fake-model","stream":"yes","messages":[{"role":"user","content":"a"}]}`, 400, "invalid_type", "stream"},
		{"unknown model", "POST", chat, tok, `{"model":"gpt-9","messages":[{"role":"user","content":"a"}]}`, 404, "model_not_found", "model"},
		{"body over limit", "POST", chat, tok, big, 413, "request_too_large", ""},
		{"wrong content type", "POST", "/v1/conversations", tok, nil, 415, "unsupported_media_type", ""},
		{"unknown conversation", "POST", chat, tok, `{"model":"fake-model","conversation":"conv_nope","messages":[{"role":"user","content":"a"}]}`, 404, "conversation_not_found", "conversation"},
		{"completion without prompt", "POST", "/v1/completions", tok, `{"model":"fake-model"}`, 400, "missing_field", "prompt"},
		{"limit too big", "GET", "/v1/conversations?limit=101", tok, nil, 400, "invalid_limit", "limit"},
		{"limit zero", "GET", "/v1/conversations?limit=0", tok, nil, 400, "invalid_limit", "limit"},
		{"limit not a number", "GET", "/v1/conversations?limit=ten", tok, nil, 400, "invalid_limit", "limit"},
		{"bad order", "GET", "/v1/conversations?order=up", tok, nil, 400, "invalid_order", "order"},
		{"bad cursor", "GET", "/v1/conversations?after=garbage", tok, nil, 400, "invalid_cursor", "after"},
		{"unknown cursor", "GET", "/v1/conversations/" + conv + "/messages?after=msg_doesnotexist", tok, nil, 400, "invalid_cursor", "after"},
		{"unknown conversation get", "GET", "/v1/conversations/conv_nope", tok, nil, 404, "conversation_not_found", ""},
		{"message unknown role", "POST", "/v1/conversations/" + conv + "/messages", tok, `{"role":"robot","content":"x"}`, 400, "invalid_role", "role"},
		{"metadata too many keys", "POST", "/v1/conversations", tok, map[string]any{"metadata": manyKeys(17)}, 400, "invalid_metadata", "metadata"},
		{"metadata wrong type", "POST", "/v1/conversations", tok, `{"metadata":{"a":1}}`, 400, "invalid_type", "metadata"},
		{"missing token", "GET", "/v1/models", "", nil, 401, "missing_token", ""},
		{"forged token", "GET", "/v1/models", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", nil, 401, "invalid_token", ""},
		{"garbage token", "GET", "/v1/models", "garbage", nil, 401, "invalid_token", ""},
		{"idempotency key too long", "POST", "/v1/conversations", tok, map[string]any{}, 400, "invalid_idempotency_key", "Idempotency-Key"},
		{"unknown route", "GET", "/v1/nothing", tok, nil, 404, "unknown_route", ""},
		{"refresh with garbage", "POST", "/auth/refresh", "", `{"refresh_token":"nope"}`, 401, "invalid_token", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.name == "idempotency key too long" {
				hdr["Idempotency-Key"] = strings.Repeat("k", 256)
			}
			if tc.name == "wrong content type" {
				hdr["Content-Type"] = "text/plain"
				tc.body = "title=x"
			}
			r := e.do(tc.method, tc.path, tc.token, tc.body, hdr)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tc.status, r.body)
			}
			if code := r.errorCode(t); code != tc.code {
				t.Errorf("code = %q, want %q: %s", code, tc.code, r.body)
			}
			if p := r.param(t); p != tc.param {
				t.Errorf("param = %q, want %q", p, tc.param)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			for _, leak := range []string{"sql", "SQL", "goroutine", ".go:", "panic"} {
				if strings.Contains(string(r.body), leak) {
					t.Errorf("body leaks %q: %s", leak, r.body)
				}
			}
		})
	}
	if e.engine.Requests() != 0 {
		t.Errorf("bad input reached the engine %d times", e.engine.Requests())
	}
}

func manyKeys(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

// Engine failures become 502/504 with a clear message; a stream cut short
// ends with an error event and [DONE].
func TestUpstreamFailures(t *testing.T) {
	chat := map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "hi"}}}
	withDirective := func(d string, stream bool) map[string]any {
		return map[string]any{"model": testModel, "stream": stream, "messages": []map[string]string{{"role": "user", "content": "hi " + d}}}
	}

	t.Run("refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		e := newEnv(t, envOptions{upstream: "http://" + addr})
		r := e.do("POST", "/v1/chat/completions", e.guest(), chat, nil)
		if r.status != 502 || r.errorCode(t) != "upstream_unreachable" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e := newEnv(t, envOptions{timeout: 200 * time.Millisecond})
		r := e.do("POST", "/v1/chat/completions", e.guest(), withDirective("[fake:hang]", false), nil)
		if r.status != 504 || r.errorCode(t) != "upstream_timeout" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	e := newEnv(t, envOptions{})
	tok := e.guest()
	t.Run("5xx", func(t *testing.T) {
		r := e.do("POST", "/v1/chat/completions", tok, withDirective("[fake:status=500]", false), nil)
		if r.status != 502 || r.errorCode(t) != "upstream_error" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		r := e.do("POST", "/v1/chat/completions", tok, withDirective("[fake:garbage]", false), nil)
		if r.status != 502 || r.errorCode(t) != "upstream_bad_response" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("dies mid-stream", func(t *testing.T) {
		r := e.do("POST", "/v1/chat/completions", tok, withDirective("[fake:disconnect=3]", true), nil)
		ev := sseEvents(t, r.body)
		if len(ev) < 3 || ev[len(ev)-1] != "[DONE]" || !strings.Contains(ev[len(ev)-2], `"error"`) {
			t.Fatalf("events = %v, want chunks, an error event, [DONE]", ev)
		}
		if !strings.Contains(ev[len(ev)-2], "upstream_disconnected") {
			t.Errorf("error event = %s", ev[len(ev)-2])
		}
	})
	t.Run("run on a dying engine keeps the partial answer", func(t *testing.T) {
		conv := e.newConversation(tok, "hi [fake:disconnect=3]")
		r := e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{}, nil)
		if r.status != 502 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		msgs := e.messages(tok, conv)
		if len(msgs) != 2 || msgs[1].Status != "incomplete" || msgs[1].Content != strings.Join(fakeengine.Answer(3), "") {
			t.Errorf("stored = %+v", msgs)
		}
	})
}

// Keepalive comments flow during a silence.
func TestStreamKeepalive(t *testing.T) {
	e := newEnv(t, envOptions{keepalive: 20 * time.Millisecond, engine: fakeengine.Options{Tokens: 2, TokenDelay: 150 * time.Millisecond}})
	r := e.do("POST", "/v1/chat/completions", e.guest(), map[string]any{"model": testModel, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}}, nil)
	if !strings.Contains(string(r.body), ": keepalive\n\n") {
		t.Errorf("no keepalive in %q", r.body)
	}
	if ev := sseEvents(t, r.body); ev[len(ev)-1] != "[DONE]" {
		t.Errorf("stream did not end with [DONE]")
	}
}

// Shutdown ends running streams with an error event and keeps the answer.
func TestShutdownEndsStreams(t *testing.T) {
	e := newEnv(t, envOptions{engine: fakeengine.Options{Tokens: 500, TokenDelay: 10 * time.Millisecond}})
	tok := e.guest()
	conv := e.newConversation(tok, "long")
	next, _, closeStream := e.openStream("/v1/conversations/"+conv+"/runs", tok, map[string]any{"stream": true})
	defer closeStream()
	for n := 0; n < 3; {
		if d := next(); strings.Contains(d, "chat.completion.chunk") {
			n++
		}
	}
	e.srv.Stop()
	var events []string
	for d := next(); d != ""; d = next() {
		events = append(events, d)
		if d == "[DONE]" {
			break
		}
	}
	joined := strings.Join(events, "\n")
	if !strings.Contains(joined, "server_shutting_down") || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events after stop = %v", events)
	}
	msgs := e.messages(tok, conv)
	if len(msgs) != 2 || msgs[1].Status != "incomplete" || msgs[1].Content == "" {
		t.Errorf("stored = %+v", msgs)
	}
}

// A client that leaves a streamed chat completion cancels the engine request
// and is not an error in the log.
func TestChatStreamClientLeaves(t *testing.T) {
	e := newEnv(t, envOptions{engine: fakeengine.Options{Tokens: 200, TokenDelay: 10 * time.Millisecond}})
	next, _, closeStream := e.openStream("/v1/chat/completions", e.guest(), map[string]any{"model": testModel, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	next()
	next()
	left := time.Now()
	closeStream()
	select {
	case at := <-e.engine.Cancellations():
		if d := at.Sub(left); d > 100*time.Millisecond {
			t.Errorf("engine cancelled after %v", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("engine request not cancelled")
	}
	time.Sleep(100 * time.Millisecond) // let the handler finish and log
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("leaving logged an error:\n%s", e.logs.String())
	}
}

// A streamed answer leaves its engine connection in the pool: the next
// request reuses it rather than dialling (a connect and an accept on the way
// to its first token). The engine ends each response a little after its
// [DONE], so a connection closed at [DONE] would be dropped every time; one
// that never ends its response is dropped after a short wait, the client's
// stream already complete.
func TestStreamKeepsTheEngineConnection(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	chat := func(prompt string, extra map[string]any) response {
		t.Helper()
		body := map[string]any{"model": testModel, "stream": true, "messages": []map[string]string{{"role": "user", "content": prompt}}}
		for k, v := range extra {
			body[k] = v
		}
		r := e.do("POST", "/v1/chat/completions", tok, body, nil)
		if ev := sseEvents(t, r.body); r.status != http.StatusOK || ev[len(ev)-1] != "[DONE]" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r
	}
	before := e.engineConns.Load()
	conv := e.newConversation(tok, "")
	for range 3 {
		chat("hi [fake:linger=20ms]", nil)
		chat("hi [fake:linger=20ms]", map[string]any{"conversation": conv}) // a stored turn
	}
	if n := e.engineConns.Load() - before; n > 1 {
		t.Errorf("six streams dialled the engine %d times, want at most once", n)
	}

	// An engine that holds the response open after [DONE]: the client's
	// stream ends at once; the connection is given up.
	start := time.Now()
	chat("hi [fake:linger=1h]", nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a stream whose engine lingers took %v", d)
	}
	held := e.engineConns.Load()
	chat("hi", nil)
	if e.engineConns.Load() != held+1 {
		t.Errorf("the lingering engine's connection was reused (connections %d → %d)", held, e.engineConns.Load())
	}
}
