package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/server/servertest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// guestClient is a client signed in as a fresh guest of srv.
func guestClient(t *testing.T, srv *servertest.Server) *client.Client {
	t.Helper()
	c := client.New(client.Options{BaseURL: srv.URL})
	if _, err := c.EnsureToken(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGuestMeModels(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Models: []string{"other-model"}})
	c := client.New(client.Options{BaseURL: srv.URL + "/v1/"}) // what a person might paste
	tok, err := c.Guest(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.User.Guest || tok.User.ID == "" {
		t.Fatalf("guest tokens: %+v", tok)
	}
	c.SetCredentials(client.Credentials{AccessToken: tok.AccessToken})
	me, err := c.Me(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != tok.User.ID || !me.Guest {
		t.Fatalf("me = %+v, want user %s", me, tok.User.ID)
	}
	models, err := c.Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "fake-model,other-model" {
		t.Fatalf("models = %v", ids)
	}
}

func TestConversationsCRUDAndPagination(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	c := guestClient(t, srv)
	var made []string
	for _, title := range []string{"one", "two", "three", "four", "five"} {
		conv, err := c.CreateConversation(ctx(t), client.ConversationParams{Title: title}, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(conv.ID, "conv_") || conv.Title != title {
			t.Fatalf("created %+v", conv)
		}
		made = append(made, conv.ID)
	}
	// Walk the pages: newest first, 2 at a time.
	var seen []string
	p := client.ListParams{Limit: 2}
	pages := 0
	for {
		page, err := c.ListConversations(ctx(t), p)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, conv := range page.Data {
			seen = append(seen, conv.Title)
		}
		var more bool
		if p, more = page.Next(p); !more {
			break
		}
	}
	if pages != 3 || strings.Join(seen, " ") != "five four three two one" {
		t.Fatalf("%d pages: %v", pages, seen)
	}

	title := "renamed"
	conv, err := c.UpdateConversation(ctx(t), made[0], client.ConversationUpdate{Title: &title})
	if err != nil || conv.Title != "renamed" {
		t.Fatalf("rename: %+v %v", conv, err)
	}
	if got, err := c.GetConversation(ctx(t), made[0]); err != nil || got.Title != "renamed" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := c.DeleteConversation(ctx(t), made[0]); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetConversation(ctx(t), made[0])
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "conversation_not_found" || apiErr.RequestID == "" {
		t.Fatalf("get deleted: %v", err)
	}
}

func TestMessagesAndStreamedRun(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	c := guestClient(t, srv)
	conv, err := c.CreateConversation(ctx(t), client.ConversationParams{Title: "t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "user", Content: "hi"}, ""); err != nil {
		t.Fatal(err)
	}
	s, err := c.StreamRun(ctx(t), conv.ID, client.RunParams{Model: servertest.Model}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.RunID(), "run_") {
		t.Fatalf("run id %q", s.RunID())
	}
	var kinds []client.EventType
	var text strings.Builder
	var final *client.Run
	for s.Next() {
		ev := s.Event()
		kinds = append(kinds, ev.Type)
		switch ev.Type {
		case client.EventDelta:
			text.WriteString(ev.Text)
		case client.EventRun:
			final = ev.Run
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if kinds[0] != client.EventRun || kinds[len(kinds)-1] != client.EventRun {
		t.Fatalf("events %v: want run first and last", kinds)
	}
	if want := strings.Join(fakeengine.Answer(8), ""); text.String() != want {
		t.Fatalf("streamed %q, want %q", text.String(), want)
	}
	if final.Status != client.StatusCompleted || final.Message == nil || final.Message.Content != text.String() || final.Usage == nil {
		t.Fatalf("final run %+v", final)
	}

	msgs, err := c.AllMessages(ctx(t), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Role != "user" || msgs[1].Role != "assistant" || msgs[1].Content != text.String() {
		t.Fatalf("messages %+v", msgs)
	}

	// A non-streamed run on the same conversation.
	run, err := c.CreateRun(ctx(t), conv.ID, client.RunParams{}, "")
	if err != nil || run.Status != client.StatusCompleted || run.Model != servertest.Model {
		t.Fatalf("run %+v %v", run, err)
	}
}

func TestCancelRunKeepsPartialAnswer(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 200, TokenDelay: 20 * time.Millisecond}})
	c := guestClient(t, srv)
	conv, _ := c.CreateConversation(ctx(t), client.ConversationParams{}, "")
	if _, err := c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "user", Content: "tell me a long story"}, ""); err != nil {
		t.Fatal(err)
	}
	s, err := c.StreamRun(ctx(t), conv.ID, client.RunParams{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	deltas := 0
	var final *client.Run
	for s.Next() {
		ev := s.Event()
		if ev.Type == client.EventDelta && ev.Text != "" {
			text.WriteString(ev.Text)
			if deltas++; deltas == 3 {
				run, err := c.CancelRun(ctx(t), conv.ID, s.RunID())
				if err != nil {
					t.Fatal(err)
				}
				if run.Status != client.StatusIncomplete {
					t.Fatalf("cancelled run status %q", run.Status)
				}
			}
		}
		if ev.Type == client.EventRun && ev.Run.Status != client.StatusInProgress {
			final = ev.Run
		}
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if final == nil || final.Status != client.StatusIncomplete || final.Message == nil ||
		final.Message.Content != text.String() || deltas >= 200 {
		t.Fatalf("final %+v after %d deltas (%q)", final, deltas, text.String())
	}
}

func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	c := guestClient(t, srv)
	conv, _ := c.CreateConversation(ctx(t), client.ConversationParams{}, "")
	_, _ = c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "user", Content: "x"}, "")
	_, err := c.StreamRun(ctx(t), conv.ID, client.RunParams{Model: "nope"}, "")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v", err, err)
	}
	if e.StatusCode != 404 || e.Code != "model_not_found" || e.Param != "model" || e.Type != "invalid_request_error" {
		t.Fatalf("error %+v", e)
	}
	if !strings.Contains(e.Error(), "model_not_found") || client.Hint(err, srv.URL) == "" {
		t.Fatalf("message %q", e.Error())
	}

	_, err = c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "robot", Content: "x"}, "")
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Param == "" {
		t.Fatalf("bad role: %v", err)
	}
}

// flaky fails the first request it sees after the server answered it: the
// answer is lost on the way back, as when a connection drops.
type flaky struct {
	match  string
	failed atomic.Bool
	keys   sync.Map // Idempotency-Key values seen
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		f.keys.Store(k, true)
	}
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, f.match) && f.failed.CompareAndSwap(false, true) {
		res.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return res, err
}

func TestRetryAfterNetworkErrorPostsOnce(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	fl := &flaky{match: "/messages"}
	c := client.New(client.Options{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: fl}, RetryDelay: time.Millisecond})
	if _, err := c.EnsureToken(ctx(t)); err != nil {
		t.Fatal(err)
	}
	conv, err := c.CreateConversation(ctx(t), client.ConversationParams{}, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "user", Content: "once"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !fl.failed.Load() {
		t.Fatal("the transport never failed")
	}
	msgs, err := c.AllMessages(ctx(t), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != m.ID {
		t.Fatalf("after a retried POST: %d messages %+v", len(msgs), msgs)
	}
	keys := 0
	fl.keys.Range(func(any, any) bool { keys++; return true })
	if keys != 2 { // one for the conversation, one for the message (sent twice)
		t.Fatalf("%d distinct idempotency keys, want 2", keys)
	}
}

func TestRefreshOn401(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	anon := client.New(client.Options{BaseURL: srv.URL})
	tok, err := anon.Guest(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var saved []client.Credentials
	var mu sync.Mutex
	c := client.New(client.Options{BaseURL: srv.URL,
		Credentials: client.Credentials{AccessToken: "expired", RefreshToken: tok.RefreshToken},
		OnCredentials: func(cr client.Credentials) {
			mu.Lock()
			saved = append(saved, cr)
			mu.Unlock()
		}})
	me, err := c.Me(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != tok.User.ID {
		t.Fatalf("refreshed as %s, want %s", me.ID, tok.User.ID)
	}
	if len(saved) != 1 || saved[0].AccessToken == "expired" || saved[0].RefreshToken == tok.RefreshToken {
		t.Fatalf("saved %+v", saved)
	}
}

func TestGuestFallbackWithNotice(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	var notices []string
	c := client.New(client.Options{BaseURL: srv.URL, GuestFallback: true,
		Credentials: client.Credentials{AccessToken: "expired", RefreshToken: "spent"},
		Notice:      func(s string) { notices = append(notices, s) }})
	if _, err := c.Models(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "new guest") {
		t.Fatalf("notices %q", notices)
	}
	// Without the fallback the 401 is the answer.
	c = client.New(client.Options{BaseURL: srv.URL, Credentials: client.Credentials{AccessToken: "expired"}})
	if _, err := c.Models(ctx(t)); client.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("err = %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := client.New(client.Options{BaseURL: addr, RetryDelay: time.Millisecond, Credentials: client.Credentials{AccessToken: "x"}})
	_, err := c.Models(ctx(t))
	if !client.IsUnreachable(err) || !strings.Contains(err.Error(), "http://"+addr) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(client.Hint(err, c.BaseURL()), "jan up") {
		t.Fatalf("hint %q", client.Hint(err, c.BaseURL()))
	}
}

func TestStreamCutMidAnswer(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 50, TokenDelay: 5 * time.Millisecond}})
	// A proxy that drops the connection after the run's first few events.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/runs") {
			srv.Handler().ServeHTTP(w, r)
			return
		}
		rec := servertest.CutAfter(w, 3)
		srv.Handler().ServeHTTP(rec, r)
	}))
	t.Cleanup(proxy.Close)
	c := guestClient(t, srv)
	conv, _ := c.CreateConversation(ctx(t), client.ConversationParams{}, "")
	_, _ = c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "user", Content: "x"}, "")
	pc := client.New(client.Options{BaseURL: proxy.URL, Credentials: c.Credentials()})
	s, err := pc.StreamRun(ctx(t), conv.ID, client.RunParams{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for s.Next() {
		n++
	}
	if !errors.Is(s.Err(), client.ErrStreamCut) || n == 0 {
		t.Fatalf("after %d events: err %v", n, s.Err())
	}
}

func TestChatCompletions(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	c := guestClient(t, srv)
	req := client.ChatRequest{Model: servertest.Model, Messages: []client.ChatMessage{{Role: "user", Content: "hi"}}}
	cc, err := c.ChatCompletion(ctx(t), req, "")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(fakeengine.Answer(8), "")
	if cc.Text() != want {
		t.Fatalf("text %q", cc.Text())
	}
	s, err := c.StreamChatCompletion(ctx(t), req, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	var usage *client.Usage
	for s.Next() {
		text.WriteString(s.Event().Text)
		if u := s.Event().Chunk.Usage; u != nil {
			usage = u
		}
	}
	if s.Err() != nil || text.String() != want || usage == nil || usage.CompletionTokens != 8 {
		t.Fatalf("streamed %q usage %+v err %v", text.String(), usage, s.Err())
	}
}

func TestConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": dir}
	getenv := func(k string) string { return env[k] }
	path, err := client.ConfigPath(getenv)
	if err != nil || path != filepath.Join(dir, "jan", "config.json") {
		t.Fatalf("path %q %v", path, err)
	}
	cfg, err := client.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetCredentials("127.0.0.1:9000/", client.Credentials{AccessToken: "a", RefreshToken: "r"})
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	cfg, _ = client.LoadConfig(path)
	if got := cfg.CredentialsFor("http://127.0.0.1:9000"); got.AccessToken != "a" {
		t.Fatalf("credentials %+v", got)
	}
	if got := cfg.CredentialsFor("http://elsewhere:8080"); got.AccessToken != "" {
		t.Fatal("a token leaked to another server")
	}
	for _, tc := range []struct{ flag, env, want string }{
		{"", "", "http://127.0.0.1:9000"}, // the server last used
		{"", "jan.example:8080", "http://jan.example:8080"},
		{"https://x.example/v1", "jan.example:8080", "https://x.example"},
	} {
		env["JAN_SERVER_URL"] = tc.env
		if got := client.ResolveServer(tc.flag, getenv, cfg); got != tc.want {
			t.Errorf("ResolveServer(%q, env %q) = %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
	if got := client.ResolveServer("", func(string) string { return "" }, &client.Config{}); got != client.DefaultServerURL {
		t.Errorf("default %q", got)
	}
}

func TestSessionSavesGuestTokenUnlessFromEnv(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	dir := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": dir, "JAN_SERVER_URL": srv.URL}
	getenv := func(k string) string { return env[k] }
	s, err := client.OpenSession(client.SessionOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.EnsureToken(ctx(t)); err != nil || !got {
		t.Fatalf("EnsureToken %v %v", got, err)
	}
	cfg, _ := client.LoadConfig(s.ConfigPath)
	saved := cfg.CredentialsFor(srv.URL)
	if saved.AccessToken == "" || !saved.Guest {
		t.Fatalf("saved %+v", saved)
	}
	// With JAN_TOKEN the environment wins, and nothing new is saved.
	env["JAN_TOKEN"] = "from-env"
	s, _ = client.OpenSession(client.SessionOptions{Getenv: getenv, GuestFallback: true})
	if s.Credentials().AccessToken != "from-env" || !s.FromEnv {
		t.Fatal("JAN_TOKEN did not override")
	}
	// Refused, it is an error that names JAN_TOKEN: never a new guest.
	if _, err := s.Models(ctx(t)); err == nil || !strings.Contains(err.Error(), "the token in JAN_TOKEN was refused") {
		t.Fatalf("a refused JAN_TOKEN: %v", err)
	}
	cfg, _ = client.LoadConfig(s.ConfigPath)
	if cfg.CredentialsFor(srv.URL).AccessToken != saved.AccessToken {
		t.Fatal("a token obtained under JAN_TOKEN was saved")
	}
}

// A 429 with a short Retry-After is waited out for requests safe to repeat.
func TestRetriesRateLimit(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"slow down","param":null,"request_id":"r1"}}`))
			return
		}
		w.Write([]byte(`{"object":"list","data":[{"id":"m"}]}`))
	}))
	t.Cleanup(srv.Close)
	c := client.New(client.Options{BaseURL: srv.URL, RetryDelay: time.Millisecond, Credentials: client.Credentials{AccessToken: "x"}})
	models, err := c.Models(ctx(t))
	if err != nil || len(models) != 1 || calls.Load() != 2 {
		t.Fatalf("models %v err %v after %d calls", models, err, calls.Load())
	}
	// Without retries the envelope comes back, Retry-After included.
	calls.Store(0)
	c = client.New(client.Options{BaseURL: srv.URL, Retries: -1, Credentials: client.Credentials{AccessToken: "x"}})
	_, err = c.Models(ctx(t))
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 429 || e.Type != "rate_limit_error" || e.Param != "" {
		t.Fatalf("err %v", err)
	}
}

// Ask: one prompt, its streamed answer, and how it ended; an unknown model
// is refused before any conversation is made.
func TestAsk(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 5}})
	c := client.New(client.Options{BaseURL: srv.URL, GuestFallback: true})
	if _, err := c.EnsureToken(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	conv, err := c.Ask(ctx(t), client.AskParams{Prompt: "Tell me\nsomething"}, func(ev client.Event) error {
		text.WriteString(ev.Text)
		return nil
	})
	if err != nil || conv == "" {
		t.Fatalf("Ask: %q, %v", conv, err)
	}
	if want := strings.Join(fakeengine.Answer(5), ""); text.String() != want {
		t.Errorf("streamed %q, want %q", text.String(), want)
	}
	got, err := c.GetConversation(ctx(t), conv)
	if err != nil || got.Title != "Tell me" {
		t.Errorf("conversation: %+v, %v", got, err)
	}
	before, _ := c.ListConversations(ctx(t), client.ListParams{Limit: 100})
	if _, err := c.Ask(ctx(t), client.AskParams{Prompt: "hi", Model: "nope"}, func(client.Event) error { return nil }); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("an unknown model: %v", err)
	}
	after, _ := c.ListConversations(ctx(t), client.ListParams{Limit: 100})
	if len(after.Data) != len(before.Data) {
		t.Errorf("an unknown model left a conversation behind")
	}
}

// cuttingProxy forwards TCP to target and, once, cuts the connection that
// carries a run's stream (its X-Run-Id header) after cutAfter more bytes:
// a network drop in the middle of an answer.
func cuttingProxy(t *testing.T, target string, cutAfter int) (string, *atomic.Bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var cutOnce atomic.Bool
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() {
				defer c.Close()
				defer up.Close()
				buf, seen, left := make([]byte, 512), false, cutAfter
				for {
					n, err := up.Read(buf)
					if n > 0 {
						chunk := buf[:n]
						if !seen && strings.Contains(string(chunk), "X-Run-Id:") && !cutOnce.Load() {
							seen = true
						}
						if seen {
							if n >= left {
								_, _ = c.Write(chunk[:left])
								cutOnce.Store(true)
								return // the drop
							}
							left -= n
						}
						if _, werr := c.Write(chunk); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &cutOnce
}

// A background run's stream whose connection drops is resumed by
// Stream.Next where it broke: the text is the engine's answer exactly, and
// the run ends completed.
func TestStreamResumesAfterADrop(t *testing.T) {
	t.Parallel()
	const tokens = 40
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: tokens, TokenDelay: 20 * time.Millisecond}})
	proxy, cut := cuttingProxy(t, strings.TrimPrefix(srv.URL, "http://"), 1500)
	c := client.New(client.Options{BaseURL: proxy})
	if _, err := c.EnsureToken(ctx(t)); err != nil {
		t.Fatal(err)
	}
	conv, err := c.CreateConversation(ctx(t), client.ConversationParams{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMessage(ctx(t), conv.ID, client.MessageParams{Role: "user", Content: "a story"}, ""); err != nil {
		t.Fatal(err)
	}
	s, err := c.StreamRun(ctx(t), conv.ID, client.RunParams{Background: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	var final *client.Run
	runs := 0
	for s.Next() {
		switch ev := s.Event(); ev.Type {
		case client.EventDelta:
			text.WriteString(ev.Text)
		case client.EventRun:
			runs++
			if ev.Run.Status != client.StatusInProgress {
				final = ev.Run
			}
		}
	}
	if s.Err() != nil {
		t.Fatalf("the stream was not resumed: %v (after %q)", s.Err(), text.String())
	}
	if want := strings.Join(fakeengine.Answer(tokens), ""); text.String() != want {
		t.Fatalf("resumed text %q\nwant %q", text.String(), want)
	}
	if !cut.Load() || s.LastEventID() == "" {
		t.Fatalf("the connection was not cut (cut %v, last id %q): nothing was resumed", cut.Load(), s.LastEventID())
	}
	if final == nil || final.Status != client.StatusCompleted || runs != 2 {
		t.Fatalf("final run %+v after %d run events (want the first and the last only)", final, runs)
	}
}
