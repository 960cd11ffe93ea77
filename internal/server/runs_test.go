package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store"
)

// openStream starts a streaming POST and returns a function yielding its
// data payloads one at a time ("" at the end) and a cancel for the request.
func (e *env) openStream(path, token string, body any) (next func() string, resp *http.Response, cancel func()) {
	e.t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", e.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("stream %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("stream %s: status %d", path, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	next = func() string {
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				return d
			}
		}
		return ""
	}
	return next, resp, func() { stop(); resp.Body.Close() }
}

type runEvent struct {
	Object  string       `json:"object"`
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Message *messageJSON `json:"message"`
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
}

func TestRunStreamsAndStoresOneAnswer(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	conv := e.newConversation(tok, "Tell me something")

	next, resp, cancel := e.openStream("/v1/conversations/"+conv+"/runs", tok, map[string]any{"stream": true})
	defer cancel()
	runID := resp.Header.Get("X-Run-Id")
	var events []runEvent
	var content strings.Builder
	for d := next(); d != "" && d != "[DONE]"; d = next() {
		var ev runEvent
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatalf("event %q: %v", d, err)
		}
		events = append(events, ev)
		if len(ev.Choices) > 0 {
			content.WriteString(ev.Choices[0].Delta.Content)
		}
	}
	want := strings.Join(fakeengine.Answer(8), "")
	if content.String() != want {
		t.Errorf("streamed %q, want %q", content.String(), want)
	}
	first, last := events[0], events[len(events)-1]
	if first.Object != "run" || first.Status != store.StatusInProgress || first.ID != runID {
		t.Errorf("first event = %+v, want the in_progress run %s", first, runID)
	}
	if last.Object != "run" || last.Status != store.StatusCompleted || last.Message == nil || last.Message.Content != want {
		t.Errorf("last event = %+v, want the completed run with the message", last)
	}

	msgs := e.messages(tok, conv)
	if len(msgs) != 2 || msgs[1].Role != "assistant" || msgs[1].Content != want || msgs[1].Status != store.StatusCompleted {
		t.Fatalf("stored messages = %+v, want the prompt and one completed answer", msgs)
	}

	// Non-streamed run on the same conversation, and GET of the run.
	res := e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("run: %d %s", res.status, res.body)
	}
	var run runJSON
	res.decode(t, &run)
	if run.Status != store.StatusCompleted || run.Message == nil || run.Message.Content != want || run.Usage == nil {
		t.Errorf("run = %+v", run)
	}
	res = e.do("GET", "/v1/conversations/"+conv+"/runs/"+run.ID, tok, nil, nil)
	var got runJSON
	res.decode(t, &got)
	if got.Status != store.StatusCompleted || got.Message == nil || got.Message.ID != run.Message.ID {
		t.Errorf("GET run = %+v", got)
	}
	if n := len(e.messages(tok, conv)); n != 3 {
		t.Errorf("messages after second run = %d, want 3", n)
	}
}

// Cancelling mid-stream, by the endpoint or by leaving, stops the engine
// within 100 ms and keeps the partial answer as incomplete.
func TestRunCancel(t *testing.T) {
	for _, how := range []string{"endpoint", "disconnect"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, envOptions{engine: fakeengine.Options{Tokens: 200, TokenDelay: 10 * time.Millisecond}})
			tok := e.guest()
			conv := e.newConversation(tok, "Write a long story")
			next, resp, closeStream := e.openStream("/v1/conversations/"+conv+"/runs", tok, map[string]any{"stream": true})
			defer closeStream()
			runID := resp.Header.Get("X-Run-Id")
			for tokens := 0; tokens < 4; {
				d := next()
				if d == "" {
					t.Fatal("stream ended early")
				}
				if strings.Contains(d, "chat.completion.chunk") {
					tokens++
				}
			}

			var cancelled time.Time
			var cancelRes response
			if how == "endpoint" {
				cancelled = time.Now()
				cancelRes = e.do("POST", "/v1/conversations/"+conv+"/runs/"+runID+"/cancel", tok, nil, nil)
			} else {
				cancelled = time.Now()
				closeStream()
			}
			select {
			case at := <-e.engine.Cancellations():
				if d := at.Sub(cancelled); d > 100*time.Millisecond {
					t.Errorf("engine saw the cancellation after %v, want ≤ 100ms", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the engine request was not cancelled")
			}

			var run runJSON
			if how == "endpoint" {
				if cancelRes.status != http.StatusOK {
					t.Fatalf("cancel: %d %s", cancelRes.status, cancelRes.body)
				}
				cancelRes.decode(t, &run)
				// The stream ends with the final run and [DONE].
				var last string
				for d := next(); d != ""; d = next() {
					if d != "[DONE]" {
						last = d
					} else {
						break
					}
				}
				if !strings.Contains(last, `"status":"incomplete"`) {
					t.Errorf("last event = %s, want the incomplete run", last)
				}
			} else {
				deadline := time.Now().Add(3 * time.Second)
				for time.Now().Before(deadline) {
					e.do("GET", "/v1/conversations/"+conv+"/runs/"+runID, tok, nil, nil).decode(t, &run)
					if run.Status != store.StatusInProgress {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if run.Status != store.StatusIncomplete || run.Message == nil || run.Message.Status != store.StatusIncomplete {
				t.Fatalf("run = %+v, want incomplete with an incomplete message", run)
			}
			full := strings.Join(fakeengine.Answer(200), "")
			if p := run.Message.Content; p == "" || len(p) >= len(full) || !strings.HasPrefix(full, p) {
				t.Errorf("partial answer %q is not a proper prefix of the answer", p)
			}
			msgs := e.messages(tok, conv)
			if len(msgs) != 2 || msgs[1].Content != run.Message.Content {
				t.Errorf("stored = %+v, want the prompt and the partial answer", msgs)
			}
			if strings.Contains(e.logs.String(), "level=ERROR") {
				t.Errorf("a cancel logged an error:\n%s", e.logs.String())
			}
			// Cancelling again returns the ended run unchanged.
			again := e.do("POST", "/v1/conversations/"+conv+"/runs/"+runID+"/cancel", tok, nil, nil)
			var run2 runJSON
			again.decode(t, &run2)
			if again.status != http.StatusOK || run2.Status != store.StatusIncomplete {
				t.Errorf("second cancel = %d %s", again.status, again.body)
			}
		})
	}
}

// 50 concurrent requests with one Idempotency-Key run once.
func TestIdempotencyConcurrent(t *testing.T) {
	e := newEnv(t, envOptions{engine: fakeengine.Options{TTFT: 50 * time.Millisecond}})
	tok := e.guest()
	conv := e.newConversation(tok, "")
	body := map[string]any{"model": testModel, "conversation": conv, "messages": []map[string]string{{"role": "user", "content": "Hi"}}}
	hdr := map[string]string{"Idempotency-Key": "key-1"}

	var wg sync.WaitGroup
	results := make([]response, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.do("POST", "/v1/chat/completions", tok, body, hdr)
		}()
	}
	wg.Wait()
	var ok, replayed, conflicts int
	var firstBody string
	for _, r := range results {
		switch {
		case r.status == http.StatusOK && r.header.Get("Idempotent-Replayed") == "true":
			replayed++
			if firstBody != "" && string(r.body) != firstBody {
				t.Errorf("replay differs:\n%s\n%s", r.body, firstBody)
			}
		case r.status == http.StatusOK:
			ok++
			firstBody = string(r.body)
		case r.status == http.StatusConflict:
			if c := r.errorCode(t); c != "idempotency_in_progress" {
				t.Errorf("409 code = %q", c)
			}
			conflicts++
		default:
			t.Errorf("unexpected %d %s", r.status, r.body)
		}
	}
	if ok != 1 || replayed+conflicts != 49 {
		t.Errorf("executed %d, replayed %d, conflicts %d; want 1 and 49 replays or conflicts", ok, replayed, conflicts)
	}
	if n := e.engine.Requests(); n != 1 {
		t.Errorf("engine requests = %d, want 1", n)
	}
	if msgs := e.messages(tok, conv); len(msgs) != 2 {
		t.Errorf("stored %d messages, want the prompt and one answer", len(msgs))
	}

	// A replay after completion carries the original body.
	r := e.do("POST", "/v1/chat/completions", tok, body, hdr)
	if r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "true" || (firstBody != "" && string(r.body) != firstBody) {
		t.Errorf("late replay = %d %v", r.status, r.header)
	}
	// The same key with another body is 422.
	body["messages"] = []map[string]string{{"role": "user", "content": "Something else"}}
	r = e.do("POST", "/v1/chat/completions", tok, body, hdr)
	if r.status != http.StatusUnprocessableEntity || r.errorCode(t) != "idempotency_key_reused" {
		t.Errorf("different body: %d %s", r.status, r.body)
	}
	// Another principal's identical key is independent.
	other := e.guest()
	conv2 := e.newConversation(other, "")
	body["conversation"] = conv2
	if r := e.do("POST", "/v1/chat/completions", other, body, hdr); r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("other principal: %d %v", r.status, r.header)
	}
}

// A streamed response is replayed as the same SSE stream.
func TestIdempotentStreamReplay(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	conv := e.newConversation(tok, "Hi")
	hdr := map[string]string{"Idempotency-Key": "stream-1"}
	first := e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{"stream": true}, hdr)
	second := e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{"stream": true}, hdr)
	if first.status != 200 || second.status != 200 || second.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("statuses %d %d, replayed %q", first.status, second.status, second.header.Get("Idempotent-Replayed"))
	}
	if !strings.HasPrefix(second.header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("replay content type = %q", second.header.Get("Content-Type"))
	}
	a, b := sseEvents(t, first.body), sseEvents(t, second.body)
	if fmt.Sprint(a) != fmt.Sprint(b) || a[len(a)-1] != "[DONE]" {
		t.Errorf("replayed events differ:\n%v\n%v", a, b)
	}
	if n := len(e.messages(tok, conv)); n != 2 {
		t.Errorf("messages = %d, want 2 (one run)", n)
	}
}
