package tui

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/server/servertest"
)

// driver runs a Model the way Bubble Tea does, minus the terminal: each
// command runs in its own goroutine and its message comes back to Update
// on the test's goroutine.
type driver struct {
	t    *testing.T
	m    *Model
	msgs chan tea.Msg
}

func drive(t *testing.T, o Options, w, h int) *driver {
	t.Helper()
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	d := &driver{t: t, m: New(o), msgs: make(chan tea.Msg, 256)}
	t.Cleanup(d.m.shutdown)
	d.update(tea.WindowSizeMsg{Width: w, Height: h})
	d.run(d.m.Init())
	return d
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if msg := cmd(); msg != nil {
			d.msgs <- msg
		}
	}()
}

func (d *driver) update(msg tea.Msg) {
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			d.run(c)
		}
		return
	}
	// tea.Sequence's message is unexported: run its commands in order.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
		for i := 0; i < v.Len(); i++ {
			if c := v.Index(i).Interface().(tea.Cmd); c != nil {
				if m := c(); m != nil {
					d.update(m)
				}
			}
		}
		return
	}
	_, cmd := d.m.Update(msg)
	d.run(cmd)
}

func (d *driver) keys(keys ...string) {
	for _, k := range keys {
		d.update(key(k))
	}
}

func (d *driver) typeText(s string) {
	for _, r := range s {
		d.update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// until processes messages until cond holds.
func (d *driver) until(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case msg := <-d.msgs:
			d.update(msg)
		case <-deadline:
			d.t.Fatalf("timed out waiting for %s; screen:\n%s", what, screen(d.m))
		}
	}
}

func guestAPI(t *testing.T, url string) *client.Client {
	t.Helper()
	c := client.New(client.Options{BaseURL: url, RetryDelay: time.Millisecond})
	if _, err := c.EnsureToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// A whole conversation against a real jan: send, stream, stop one answer
// on the server, start another conversation, switch back.
func TestChatAgainstServer(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 8}})
	api := guestAPI(t, srv.URL)
	d := drive(t, Options{Client: api, Server: srv.URL}, 100, 30)
	d.until("the first page", func() bool { return d.m.side.loaded && d.m.models != nil })

	d.typeText("Hello there")
	d.keys("enter")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
	answer := strings.Join(fakeengine.Answer(8), "")
	if got := d.m.tr.entries[1].text; got != answer {
		t.Fatalf("answer %q, want %q", got, answer)
	}
	if !strings.Contains(screen(d.m), "Hello from the fake engine.") || d.m.conv == nil {
		t.Fatalf("screen:\n%s", screen(d.m))
	}
	first := d.m.conv.ID

	// A slow answer, stopped with esc after a few tokens.
	d.typeText("Tell me more [fake:tokens=400] [fake:delay=10ms]")
	d.keys("enter")
	d.until("some tokens", func() bool { return d.m.tokens >= 5 })
	d.keys("esc")
	d.until("the stop", func() bool { return !d.m.streaming })
	last := d.m.tr.entries[len(d.m.tr.entries)-1]
	if !strings.Contains(last.note, "Stopped") || last.text == "" {
		t.Fatalf("stopped entry %+v", last)
	}
	msgs, err := api.AllMessages(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	stored := msgs[len(msgs)-1]
	if stored.Status != client.StatusIncomplete || stored.Content != last.text || len(strings.Fields(stored.Content)) >= 400 {
		t.Fatalf("stored %q (%s), shown %q", stored.Content, stored.Status, last.text)
	}

	// A second conversation, then back to the first through the sidebar.
	d.keys("ctrl+n")
	d.typeText("Another topic")
	d.keys("enter")
	d.until("the second answer", func() bool { return !d.m.streaming && d.m.conv != nil && d.m.conv.ID != first })
	if len(d.m.side.convs) != 2 || d.m.side.convs[0].Title != "Another topic" {
		t.Fatalf("sidebar %+v", d.m.side.convs)
	}
	d.keys("tab", "down", "enter")
	d.until("the first conversation", func() bool { return d.m.conv.ID == first && d.m.opening == "" })
	if n := len(d.m.tr.entries); n != 4 {
		t.Fatalf("%d entries in the first conversation", n)
	}
	// Resizing keeps everything.
	d.update(tea.WindowSizeMsg{Width: 70, Height: 20})
	if !strings.Contains(screen(d.m), "Tell me more") {
		t.Fatalf("after resize:\n%s", screen(d.m))
	}
}

func TestResumeConversation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	api := guestAPI(t, srv.URL)
	ctx := context.Background()
	conv, _ := api.CreateConversation(ctx, client.ConversationParams{Title: "Resumed"}, "")
	for i := 0; i < 3; i++ {
		api.CreateMessage(ctx, conv.ID, client.MessageParams{Role: "user", Content: "question"}, "")
		if _, err := api.CreateRun(ctx, conv.ID, client.RunParams{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	d := drive(t, Options{Client: api, Conversation: conv.ID}, 100, 30)
	d.until("the conversation", func() bool { return d.m.conv != nil && d.m.opening == "" })
	if len(d.m.tr.entries) != 6 || !strings.Contains(screen(d.m), "Resumed") {
		t.Fatalf("%d entries:\n%s", len(d.m.tr.entries), screen(d.m))
	}
	if got, _ := d.m.currentModel(); got != servertest.Model {
		t.Fatalf("model %q", got)
	}
}

// The server is unreachable at send: the message waits in the transcript,
// marked, and goes by itself — once — when the server is back, with no key
// pressed.
func TestUnreachableSendGoesWhenTheServerIsBack(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 8}})
	var down atomic.Bool
	var posts atomic.Int32
	api, url := unreliable(t, srv, &down, func(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/messages") {
			posts.Add(1)
		}
		return w
	})
	d := drive(t, Options{Client: api, Server: url}, 100, 30)
	d.until("the first page", func() bool { return d.m.side.loaded })
	down.Store(true)
	d.typeText("Are you there?")
	d.keys("enter")
	d.until("the send failure", func() bool { return !d.m.streaming && d.m.pend != nil && d.m.pend.queued })
	s := screen(d.m)
	if !strings.Contains(s, "cannot reach jan") || !strings.Contains(s, "offline") || !strings.Contains(s, "Not sent yet") {
		t.Fatalf("screen:\n%s", s)
	}
	if n := len(d.m.tr.entries); n != 1 || d.m.input.Value() != "" {
		t.Fatalf("%d entries, input %q: the message should wait in the transcript", n, d.m.input.Value())
	}
	down.Store(false) // the server is back; no key is pressed
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 && d.m.conn == connOK })
	if got := d.m.tr.entries[1].text; got != strings.Join(fakeengine.Answer(8), "") {
		t.Fatalf("answer %q", got)
	}
	msgs, err := api.AllMessages(context.Background(), d.m.conv.ID)
	if err != nil || len(msgs) != 2 || msgs[0].Content != "Are you there?" || posts.Load() != 1 {
		t.Fatalf("stored %+v %v after %d posts: the message must arrive once", msgs, err, posts.Load())
	}
	if strings.Contains(screen(d.m), "Not sent yet") {
		t.Fatalf("the queued note stayed:\n%s", screen(d.m))
	}
}

// unreliable serves srv through a proxy that, while down is set, drops
// every connection as a server that is not there; hook sees each request
// that gets through and may wrap its writer. It returns a client with a
// guest token, and the proxy's URL.
func unreliable(t *testing.T, srv *servertest.Server, down *atomic.Bool, hook func(http.ResponseWriter, *http.Request) http.ResponseWriter) (*client.Client, string) {
	t.Helper()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		srv.Handler().ServeHTTP(hook(w, r), r)
	}))
	t.Cleanup(proxy.Close)
	api := client.New(client.Options{BaseURL: proxy.URL, Retries: -1})
	if _, err := api.EnsureToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	return api, proxy.URL
}

// Esc takes a queued message back into the input.
func TestQueuedMessageTakenBack(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	api := client.New(client.Options{BaseURL: addr, Retries: -1, Credentials: client.Credentials{AccessToken: "x"}})
	d := drive(t, Options{Client: api}, 100, 30)
	d.until("the failure", func() bool { return d.m.conn == connOffline })
	d.typeText("Are you there?")
	d.keys("enter")
	d.until("the send failure", func() bool { return !d.m.streaming && d.m.pend != nil && d.m.pend.queued })
	d.keys("esc")
	if d.m.input.Value() != "Are you there?" || len(d.m.tr.entries) != 0 || d.m.pend.queued {
		t.Fatalf("input %q, %d entries", d.m.input.Value(), len(d.m.tr.entries))
	}
}

// An expired token: the client gets a new guest token and the chat says so.
func TestExpiredTokenNotice(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	notices := make(chan string, 4)
	api := client.New(client.Options{BaseURL: srv.URL, GuestFallback: true,
		Credentials: client.Credentials{AccessToken: "expired"},
		Notice:      func(s string) { notices <- s }})
	d := drive(t, Options{Client: api, Notices: notices}, 100, 30)
	d.until("the notice", func() bool { return strings.Contains(d.m.banner, "new guest") })
	d.typeText("still works?")
	d.keys("enter")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
}

// The connection drops mid-answer: the chat picks the run up where it
// broke (the run went on without it) and the answer arrives whole.
func TestStreamCutResumes(t *testing.T) {
	t.Parallel()
	const tokens = 100
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: tokens, TokenDelay: 5 * time.Millisecond}})
	var cut atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runs") && !cut.Swap(true) {
			w = servertest.CutAfter(w, 8)
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	api := guestAPI(t, proxy.URL)
	d := drive(t, Options{Client: api}, 100, 30)
	d.typeText("go")
	d.keys("enter")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
	e := d.m.tr.entries[1]
	if e.failed || e.text != strings.Join(fakeengine.Answer(tokens), "") || !cut.Load() {
		t.Fatalf("entry %+v (cut %v)", e, cut.Load())
	}
	if d.m.bannerIsErr {
		t.Fatalf("banner %q", d.m.banner)
	}
}

// Every token reaches the view through the batches: before the final run
// object replaces it, the live text is the engine's whole answer.
func TestBatchedStreamLosesNoToken(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 1000, TokenDelay: 50 * time.Microsecond}})
	d := drive(t, Options{Client: guestAPI(t, srv.URL)}, 100, 30)
	d.typeText("go")
	d.keys("enter")
	var live string
	batches := 0
	deadline := time.After(20 * time.Second)
	for d.m.streaming || len(d.m.tr.entries) < 2 {
		select {
		case msg := <-d.msgs:
			switch msg := msg.(type) {
			case streamBatchMsg:
				batches++
			case streamRunMsg:
				if msg.run.Status != client.StatusInProgress && d.m.tr.live != nil {
					live = d.m.tr.live.text.String()
				}
			}
			d.update(msg)
			_ = d.m.View()
		case <-deadline:
			t.Fatal("timed out")
		}
	}
	if want := strings.Join(fakeengine.Answer(1000), ""); live != want {
		t.Fatalf("live text has %d bytes, want %d", len(live), len(want))
	}
	if d.m.tokens != 1000 || batches >= 1000 {
		t.Fatalf("%d tokens in %d batches", d.m.tokens, batches)
	}
	t.Logf("1,000 tokens in %d batches", batches)
}

func TestResumeUnknownConversation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	d := drive(t, Options{Client: guestAPI(t, srv.URL), Conversation: "conv_nope"}, 100, 30)
	d.until("the error", func() bool { return d.m.banner != "" })
	if d.m.opening != "" || !strings.Contains(d.m.banner, "conversation_not_found") || !strings.Contains(screen(d.m), "New conversation") {
		t.Fatalf("banner %q opening %q:\n%s", d.m.banner, d.m.opening, screen(d.m))
	}
}

// 9. The connection drops mid-answer for longer than the stream's own
// reconnects: the answer shows as cut, the run goes on on the server, and
// when the server answers again the chat picks it up — the whole answer,
// no key pressed. ctrl+r then regenerates it: the old answer is replaced.
func TestCutAnswerPickedUpThenRegenerated(t *testing.T) {
	t.Parallel()
	const tokens = 60
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: tokens, TokenDelay: 10 * time.Millisecond}})
	var down, cut atomic.Bool
	api, url := unreliable(t, srv, &down, func(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/runs") && !cut.Swap(true) {
			w = servertest.CutAfter(w, 8)
			down.Store(true) // and the server is gone for a while after the cut
		}
		return w
	})
	d := drive(t, Options{Client: api, Server: url}, 100, 30)
	d.until("the first page", func() bool { return d.m.side.loaded })
	d.typeText("go")
	d.keys("enter")
	d.until("the cut", func() bool { n := len(d.m.tr.entries); return n == 2 && d.m.tr.entries[1].runID != "" })
	if s := screen(d.m); !strings.Contains(s, "Connection dropped") {
		t.Fatalf("screen:\n%s", s)
	}
	down.Store(false)
	want := strings.Join(fakeengine.Answer(tokens), "")
	d.until("the pick-up", func() bool {
		return !d.m.streaming && len(d.m.tr.entries) == 2 && d.m.tr.entries[1].runID == "" && d.m.tr.entries[1].text == want
	})
	if e := d.m.tr.entries[1]; e.failed || e.note != "" {
		t.Fatalf("picked-up entry %+v", e)
	}
	ctx := context.Background()
	conv := d.m.conv.ID
	before, _ := api.AllMessages(ctx, conv)

	d.keys("ctrl+r") // regenerate
	d.until("the new answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 && d.m.tr.entries[1].id != before[1].ID })
	after, err := api.AllMessages(ctx, conv)
	if err != nil || len(after) != 2 || after[1].ID == before[1].ID || after[1].Content != want || after[0].ID != before[0].ID {
		t.Fatalf("after regenerating: %+v %v (before %+v)", after, err, before)
	}
}

// A conversation that ends on an unanswered prompt (a relaunch after a
// failure) gets its answer with ctrl+r.
func TestUnansweredPromptAnsweredWithCtrlR(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	api := guestAPI(t, srv.URL)
	ctx := context.Background()
	conv, _ := api.CreateConversation(ctx, client.ConversationParams{Title: "Left"}, "")
	if _, err := api.CreateMessage(ctx, conv.ID, client.MessageParams{Role: "user", Content: "hello?"}, ""); err != nil {
		t.Fatal(err)
	}
	d := drive(t, Options{Client: api, Conversation: conv.ID}, 100, 30)
	d.until("the conversation", func() bool { return d.m.conv != nil && d.m.opening == "" })
	d.keys("ctrl+r")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
	if msgs, _ := api.AllMessages(ctx, conv.ID); len(msgs) != 2 || msgs[1].Role != "assistant" {
		t.Fatalf("stored %+v", msgs)
	}
}

// /edit puts the last prompt in the input; sending the edit replaces that
// prompt and its answer, on the server too. esc keeps them.
func TestEditLastPrompt(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 4}})
	api := guestAPI(t, srv.URL)
	d := drive(t, Options{Client: api}, 100, 30)
	d.until("the first page", func() bool { return d.m.side.loaded })
	d.typeText("Plan a trip to Lisbn")
	d.keys("enter")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
	d.keys("/")
	d.typeText("edit")
	d.keys("enter")
	if d.m.input.Value() != "Plan a trip to Lisbn" {
		t.Fatalf("input %q", d.m.input.Value())
	}
	d.keys("esc")
	if d.m.editing != nil || d.m.input.Value() != "" {
		t.Fatal("esc did not cancel the edit")
	}
	d.keys("/")
	d.typeText("edit")
	d.keys("enter", "backspace", "backspace")
	d.typeText("bon")
	d.keys("enter")
	d.until("the new answer", func() bool {
		return !d.m.streaming && len(d.m.tr.entries) == 2 && d.m.tr.entries[0].text == "Plan a trip to Lisbon"
	})
	msgs, err := api.AllMessages(context.Background(), d.m.conv.ID)
	if err != nil || len(msgs) != 2 || msgs[0].Content != "Plan a trip to Lisbon" || msgs[1].Role != "assistant" {
		t.Fatalf("stored %+v %v", msgs, err)
	}
}
