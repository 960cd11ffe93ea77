package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store"
	"github.com/janhq/jan/internal/store/pgtest"
)

// runStream starts a streaming run and returns its id and an iterator
// over its events (data payloads; "" at the end).
func (e *env) runStream(tok, conv string) (string, func() string, func()) {
	e.t.Helper()
	next, resp, stop := e.openStream("/v1/conversations/"+conv+"/runs", tok, map[string]any{"stream": true})
	return resp.Header.Get("X-Run-Id"), next, stop
}

// Postgres goes away as a run ends: the client is never told "completed";
// the final write is retried (keepalives hold the stream), then the run is
// reported failed with the answer in its last event, and the
// Idempotency-Key is released. When the database comes back the run is
// recovered with its checkpointed answer. If it comes back within the
// retry window, the run completes normally.
func TestAttackDatabaseOutageAtRunEnd(t *testing.T) {
	dsn, proxy := pgtest.CuttableURL(t)
	e := newEnv(t, envOptions{dsn: dsn, keepalive: 100 * time.Millisecond,
		engine:  fakeengine.Options{Tokens: 30, TokenDelay: 20 * time.Millisecond},
		durable: Durability{Checkpoint: 50 * time.Millisecond, StaleAfter: 300 * time.Millisecond, FinalWriteRetry: 1500 * time.Millisecond}})
	tok := e.guest()

	t.Run("gone for good", func(t *testing.T) {
		conv := e.newConversation(tok, "hello")
		runID, next, stop := e.runStream(tok, conv)
		defer stop()
		var events []string
		for ev := next(); ev != ""; ev = next() {
			events = append(events, ev)
			if len(events) == 10 { // a checkpoint has been written by now
				time.Sleep(150 * time.Millisecond)
				proxy.Cut()
			}
		}
		proxy.Restore()
		var final runEvent
		var content strings.Builder
		sawError := false
		for _, ev := range events {
			var r runEvent
			_ = json.Unmarshal([]byte(ev), &r)
			switch {
			case r.Object == "run" && r.Status != store.StatusInProgress:
				final = r
			case r.Object == "chat.completion.chunk" && len(r.Choices) > 0:
				content.WriteString(r.Choices[0].Delta.Content)
			case strings.Contains(ev, `"database_unavailable"`) && strings.HasPrefix(ev, `{"error"`):
				sawError = true
			}
			if strings.Contains(ev, `"status":"completed"`) {
				t.Fatalf("told completed while the answer was not stored: %s", ev)
			}
		}
		if final.Status != store.StatusFailed || final.Message == nil || final.Message.Content != content.String() || content.Len() == 0 || !sawError {
			t.Fatalf("final run event %+v (content %q), error event %v; want failed with the whole answer", final, content.String(), sawError)
		}
		// The database is back: the run, silent since, is recovered with
		// its checkpointed answer.
		time.Sleep(400 * time.Millisecond)
		if _, err := e.srv.Recover(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		var got runJSON
		r := e.do("GET", "/v1/conversations/"+conv+"/runs/"+runID, tok, nil, nil)
		r.decode(t, &got)
		if got.Status != store.StatusIncomplete || got.Message == nil || got.Message.Content == "" || !strings.HasPrefix(content.String(), got.Message.Content) {
			t.Fatalf("after recovery: %d %s", r.status, r.body)
		}
	})

	t.Run("back within the retry window", func(t *testing.T) {
		conv := e.newConversation(tok, "hello")
		_, next, stop := e.runStream(tok, conv)
		defer stop()
		var last string
		n := 0
		for ev := next(); ev != ""; ev = next() {
			if n++; n == 10 {
				proxy.Cut()
				time.AfterFunc(700*time.Millisecond, proxy.Restore)
			}
			if strings.HasPrefix(ev, `{"id":"run_`) {
				last = ev
			}
		}
		var final runEvent
		_ = json.Unmarshal([]byte(last), &final)
		if final.Status != store.StatusCompleted || final.Message == nil || final.Message.ID == "" {
			t.Fatalf("final run event %s; want completed and stored", last)
		}
		if msgs := e.messages(tok, conv); len(msgs) != 2 || msgs[1].Content != final.Message.Content {
			t.Fatalf("stored messages: %+v", msgs)
		}
	})
}

// Requests in flight when Postgres goes away get 503 database_unavailable
// with Retry-After, never a 500.
func TestAttackDatabaseOutageInFlight(t *testing.T) {
	dsn, proxy := pgtest.CuttableURL(t)
	e := newEnv(t, envOptions{dsn: dsn, durable: Durability{FinalWriteRetry: 200 * time.Millisecond}})
	tok := e.guest()
	conv := e.newConversation(tok, "hello")
	var mu sync.Mutex
	statuses := map[int]int{}
	var bad []string
	stop := time.Now().Add(1500 * time.Millisecond)
	time.AfterFunc(500*time.Millisecond, proxy.Cut)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				var r response
				switch i % 5 {
				case 0:
					r = e.do("POST", "/v1/conversations", tok, map[string]any{"title": "x"}, nil)
				case 1:
					r = e.do("GET", "/v1/conversations?limit=5", tok, nil, nil)
				case 2:
					r = e.do("POST", "/v1/conversations/"+conv+"/messages", tok, map[string]any{"role": "user", "content": "hi"}, nil)
				case 3:
					r = e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{}, nil)
				case 4:
					r = e.do("POST", "/v1/responses", tok, map[string]any{"model": testModel, "input": "hi", "stream": i%2 == 0}, nil)
				}
				mu.Lock()
				statuses[r.status]++
				if r.status >= 300 && (r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" ||
					!strings.Contains(string(r.body), `"database_unavailable"`)) {
					bad = append(bad, string(r.body))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("statuses %v; answers other than 503 database_unavailable with Retry-After: %.5q", statuses, bad)
	}
	t.Logf("statuses: %v", statuses)
}

// Cancelling a run whose process is gone ends it at once, keeping its
// answer so far; a run that another live process is streaming is asked to
// stop (recorded for it) and answered as it is when that process does not
// stop it within the wait.
func TestAttackOrphanRunCancel(t *testing.T) {
	e := newEnv(t, envOptions{durable: Durability{StaleAfter: 200 * time.Millisecond}})
	tok := e.guest()
	conv := e.newConversation(tok, "hello")
	res := e.do("GET", "/auth/me", tok, nil, nil)
	var me struct{ ID string }
	res.decode(t, &me)
	ctx := context.Background()
	orphan := &store.Run{ConversationID: conv, UserID: me.ID, Model: testModel, Owner: "gone/127.0.0.1:1"}
	live := &store.Run{ConversationID: conv, UserID: me.ID, Model: testModel, Owner: "alive/127.0.0.1:2"}
	for _, r := range []*store.Run{orphan, live} {
		if err := e.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.CheckpointRun(ctx, orphan.ID, "half an answer"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := e.store.CheckpointRun(ctx, live.ID, "still going"); err != nil {
		t.Fatal(err)
	}
	var got runJSON
	r := e.do("POST", "/v1/conversations/"+conv+"/runs/"+orphan.ID+"/cancel", tok, nil, nil)
	r.decode(t, &got)
	if r.status != 200 || got.Status != store.StatusIncomplete || got.Message == nil || got.Message.Content != "half an answer" {
		t.Fatalf("cancel an orphan: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/v1/conversations/"+conv+"/runs/"+live.ID+"/cancel", tok, nil, nil)
	r.decode(t, &got)
	if r.status != 200 || got.Status != store.StatusInProgress {
		t.Fatalf("cancel a run another live process streams: %d %s", r.status, r.body)
	}
	if ids, err := e.store.CancelRequests(ctx, live.Owner); err != nil || len(ids) != 1 || ids[0] != live.ID {
		t.Errorf("the cancel is not recorded for the live owner: %v %v", ids, err)
	}
}

// countingStore counts checkpoint writes.
type countingStore struct {
	store.Store
	checkpoints atomic.Int32
}

func (c *countingStore) CheckpointRun(ctx context.Context, id, partial string) error {
	c.checkpoints.Add(1)
	return c.Store.CheckpointRun(ctx, id, partial)
}

// Checkpointing costs at most one database write per second per stream.
func TestCheckpointsAtMostOncePerSecond(t *testing.T) {
	e := newEnv(t, envOptions{engine: fakeengine.Options{Tokens: 150, TokenDelay: 20 * time.Millisecond}})
	counting := &countingStore{Store: e.store}
	e.srv.store = counting
	tok := e.guest()
	conv := e.newConversation(tok, "hello")
	start := time.Now()
	_, next, stop := e.runStream(tok, conv)
	defer stop()
	for ev := next(); ev != ""; ev = next() {
	}
	took := time.Since(start)
	n := counting.checkpoints.Load()
	t.Logf("%d checkpoints in a run of %s", n, took.Round(time.Millisecond))
	if n < 1 || float64(n) > took.Seconds()+0.5 {
		t.Fatalf("%d checkpoints in a run of %s, want at least one and at most one a second", n, took)
	}
}

// idempotencyCounter counts the separate writes of an Idempotency-Key's
// record.
type idempotencyCounter struct {
	store.Store
	completes atomic.Int32
}

func (c *idempotencyCounter) CompleteIdempotent(ctx context.Context, k store.IdempotencyKey, status int, ct string, body []byte) error {
	c.completes.Add(1)
	return c.Store.CompleteIdempotent(ctx, k, status, ct, body)
}

// A stored chat turn with an Idempotency-Key is one commit: the record of
// the answer is written in the turn's transaction, not after it — on both
// backends — and a retry replays it byte for byte.
func TestIdempotentTurnIsOneCommit(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		counter := &idempotencyCounter{Store: e.store}
		e.srv.store = counter
		tok := e.guest()
		conv := e.newConversation(tok, "")
		body := map[string]any{"model": testModel, "conversation": conv, "messages": []map[string]string{{"role": "user", "content": "once"}}}
		first := e.do("POST", "/v1/chat/completions", tok, body, map[string]string{"Idempotency-Key": "turn-1"})
		if first.status != 200 {
			t.Fatalf("chat: %d %s", first.status, first.body)
		}
		if n := counter.completes.Load(); n != 0 {
			t.Errorf("the record was completed in %d write(s) of its own, want it in the turn's", n)
		}
		again := e.do("POST", "/v1/chat/completions", tok, body, map[string]string{"Idempotency-Key": "turn-1"})
		if again.status != 200 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %d %s", again.status, again.body)
		}
		if msgs := e.messages(tok, conv); len(msgs) != 2 {
			t.Errorf("%d messages after a replayed turn", len(msgs))
		}
	})
}
