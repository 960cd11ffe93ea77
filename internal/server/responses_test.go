package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/janhq/jan/internal/fakeengine"
	jresponses "github.com/janhq/jan/internal/responses"
	"github.com/janhq/jan/internal/store"
)

func (e *env) sdk(token string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.URL+"/v1"), option.WithAPIKey(token), option.WithMaxRetries(0))
}

func input(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// collect reads a Responses stream: the events, the text of the deltas,
// and the one terminal event's response.
func collect(t *testing.T, next func() bool, current func() responses.ResponseStreamEventUnion) (types []string, text string, final *responses.Response, seqs []int64) {
	t.Helper()
	var b strings.Builder
	for next() {
		ev := current()
		types = append(types, ev.Type)
		seqs = append(seqs, ev.SequenceNumber)
		switch ev.Type {
		case "response.output_text.delta":
			b.WriteString(ev.Delta)
		case "response.completed", "response.incomplete", "response.failed":
			if final != nil {
				t.Fatalf("a second terminal event %s", ev.Type)
			}
			r := ev.Response
			final = &r
		}
	}
	return types, b.String(), final, seqs
}

// The official openai-go Responses client against jan, on both backends:
// create (plain and streaming), chains, conversations, tools, store:false,
// get, input items, delete.
func TestResponsesSDK(t *testing.T) {
	onBothBackends(t, envOptions{engine: fakeengine.Options{Tokens: 12}}, func(t *testing.T, e *env) {
		tok := e.guest()
		client := e.sdk(tok)
		ctx := context.Background()
		want := strings.Join(fakeengine.Answer(12), "")

		first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Input: input("Hello there"),
			Instructions: openai.String("be brief"), Metadata: shared.Metadata{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if first.Status != "completed" || first.OutputText() != want || first.Usage.OutputTokens != 12 || first.Model != testModel ||
			!strings.HasPrefix(first.ID, "resp_") || first.Metadata["k"] != "v" || first.Instructions.OfString != "be brief" {
			t.Fatalf("response: %+v", first)
		}

		// Streaming: events in order from 0, deltas add up to the text, one terminal event.
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: testModel, Input: input("Stream it"),
			PreviousResponseID: openai.String(first.ID)})
		types, text, final, seqs := collect(t, stream.Next, stream.Current)
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		for i, s := range seqs {
			if s != int64(i) {
				t.Fatalf("sequence numbers %v", seqs)
			}
		}
		if types[0] != "response.created" || types[1] != "response.in_progress" || types[len(types)-1] != "response.completed" ||
			text != want || final == nil || final.OutputText() != want || final.PreviousResponseID != first.ID {
			t.Fatalf("stream: %v, text %q, final %+v", types, text, final)
		}

		// The chain reached the engine: instructions are not carried over,
		// the first exchange is.
		var seen []map[string]any
		var mu sync.Mutex
		e.engineHook = func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(b)))
			var req struct {
				Messages []map[string]any `json:"messages"`
			}
			json.Unmarshal(b, &req)
			mu.Lock()
			seen = req.Messages
			mu.Unlock()
		}
		third, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Input: input("And now?"), PreviousResponseID: openai.String(final.ID)})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if len(seen) != 5 || seen[0]["content"] != "Hello there" || seen[1]["content"] != want || seen[2]["content"] != "Stream it" || seen[4]["content"] != "And now?" {
			t.Errorf("the engine saw %v", seen)
		}
		mu.Unlock()
		e.engineHook = nil

		// Stored: get, input items (newest first), delete.
		got, err := client.Responses.Get(ctx, third.ID, responses.ResponseGetParams{})
		if err != nil || got.OutputText() != want || got.Status != "completed" {
			t.Fatalf("get: %+v, %v", got, err)
		}
		items, err := client.Responses.InputItems.List(ctx, third.ID, responses.InputItemListParams{})
		if err != nil || len(items.Data) != 1 || items.Data[0].AsMessage().Content[0].Text != "And now?" {
			t.Fatalf("input items: %+v, %v", items, err)
		}
		if err := client.Responses.Delete(ctx, third.ID); err != nil {
			t.Fatal(err)
		}
		var apiErr *openai.Error
		if _, err := client.Responses.Get(ctx, third.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("get after delete: %v", err)
		}
		stranger := e.sdk(e.guest())
		if _, err := stranger.Responses.Get(ctx, first.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("another principal's response: %v", err)
		}

		// store: false leaves nothing behind.
		unstored, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Input: input("Forget me"), Store: openai.Bool(false)})
		if err != nil || unstored.OutputText() != want {
			t.Fatalf("store false: %+v, %v", unstored, err)
		}
		if _, err := client.Responses.Get(ctx, unstored.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("get of a store:false response: %v", err)
		}

		// A conversation: read before, appended after — what /messages shows.
		conv := e.newConversation(tok, "earlier question")
		inConv, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Input: input("in the conversation"),
			Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv)}})
		if err != nil || inConv.Conversation.ID != conv {
			t.Fatalf("in a conversation: %+v, %v", inConv, err)
		}
		msgs := e.messages(tok, conv)
		if len(msgs) != 3 || msgs[1].Content != "in the conversation" || msgs[2].Content != want || msgs[2].Role != "assistant" {
			t.Fatalf("the conversation after the response: %+v", msgs)
		}
	})
}

// A tool round trip: the engine calls a function, the client sends its
// output with previous_response_id, the engine answers with it.
func TestResponsesTools(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		client := e.sdk(e.guest())
		ctx := context.Background()
		tools := []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}}
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: testModel, Tools: tools,
			Input: input("What is the weather? [fake:tool=get_weather]")})
		types, _, final, _ := collect(t, stream.Next, stream.Current)
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if final == nil || len(final.Output) != 1 || final.Output[0].Type != "function_call" {
			t.Fatalf("events %v, final %+v", types, final)
		}
		call := final.Output[0].AsFunctionCall()
		if call.Name != "get_weather" || call.Arguments != `{"city":"Paris"}` || call.CallID == "" ||
			!strings.Contains(strings.Join(types, " "), "response.function_call_arguments.delta") {
			t.Fatalf("the call: %+v (events %v)", call, types)
		}
		next, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Tools: tools, PreviousResponseID: openai.String(final.ID),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{CallID: openai.String(call.CallID),
					Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String("sunny, 21°C")}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if next.OutputText() != "The tool said: sunny, 21°C" {
			t.Fatalf("after the tool output: %q", next.OutputText())
		}
	})
}

// Bad input: each refused with a 400-class envelope naming the field.
func TestResponsesBadInput(t *testing.T) {
	e := newEnv(t, envOptions{bodies: BodyLimits{Max: 64 << 10}})
	tok, other := e.guest(), e.guest()
	owner := e.sdk(other)
	theirs, err := owner.Responses.New(context.Background(), responses.ResponseNewParams{Model: testModel, Input: input("mine")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body        string
		status      int
		code, param string
	}{
		{`{"input":"hi"}`, 400, "missing_field", "model"},
		{`{"model":"fake-model","input":""}`, 400, "empty_input", "input"},
		{`{"model":"fake-model","input":[{"type":"computer_call"}]}`, 400, "unknown_item_type", "input[0].type"},
		{`{"model":"fake-model","input":"x","previous_response_id":"resp_a","conversation":"conv_b"}`, 400, "conflicting_fields", "conversation"},
		{`{"model":"fake-model","input":"x","previous_response_id":"` + theirs.ID + `"}`, 404, "previous_response_not_found", "previous_response_id"},
		{`{"model":"fake-model","input":"x","conversation":"conv_nope"}`, 404, "conversation_not_found", "conversation"},
		{`{"model":"nope","input":"x"}`, 404, "model_not_found", "model"},
		{`{"model":"fake-model","input":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "request_too_large", ""},
		{`{"model":"fake-model","input":"x","metadata":{"a":"` + strings.Repeat("v", 600) + `"}}`, 400, "invalid_metadata", "metadata"},
	} {
		r := e.do("POST", "/v1/responses", tok, c.body, nil)
		if r.status != c.status || r.errorCode(t) != c.code || r.param(t) != c.param {
			t.Errorf("%.80s: %d %s, want %d %s on %q", c.body, r.status, r.body, c.status, c.code, c.param)
		}
	}
}

// A background response runs without its client: it can be streamed,
// dropped, and resumed after the last event seen with no gap and no
// duplicate; once done, its events still stream from the store.
func TestResponsesBackgroundResume(t *testing.T) {
	onBothBackends(t, envOptions{engine: fakeengine.Options{Tokens: 40, TokenDelay: 10 * time.Millisecond}}, func(t *testing.T, e *env) {
		client := e.sdk(e.guest())
		ctx, cancel := context.WithCancel(context.Background())
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: testModel, Input: input("go on"), Background: openai.Bool(true)})
		var seen []int64
		var id string
		var text strings.Builder
		for stream.Next() {
			ev := stream.Current()
			seen = append(seen, ev.SequenceNumber)
			if ev.Type == "response.created" {
				id = ev.Response.ID
			}
			if ev.Type == "response.output_text.delta" {
				text.WriteString(ev.Delta)
			}
			if len(seen) == 10 {
				break
			}
		}
		cancel() // the client leaves; the response goes on
		stream.Close()
		if id == "" {
			t.Fatal("no response.created")
		}
		rest := client.Responses.GetStreaming(context.Background(), id, responses.ResponseGetParams{StartingAfter: openai.Int(seen[len(seen)-1])})
		types, more, final, seqs := collect(t, rest.Next, rest.Current)
		if err := rest.Err(); err != nil {
			t.Fatal(err)
		}
		text.WriteString(more)
		all := append(seen, seqs...)
		for i, s := range all {
			if s != int64(i) {
				t.Fatalf("sequence numbers across the resume: %v", all)
			}
		}
		want := strings.Join(fakeengine.Answer(40), "")
		if final == nil || final.Status != "completed" || text.String() != want || types[len(types)-1] != "response.completed" {
			t.Fatalf("resumed: final %+v, text %q", final, text.String())
		}
		// Done: the whole stream again, from the store.
		again := client.Responses.GetStreaming(context.Background(), id, responses.ResponseGetParams{})
		_, whole, final2, _ := collect(t, again.Next, again.Current)
		if whole != want || final2 == nil || final2.Status != "completed" {
			t.Fatalf("replayed from the store: %q, %+v", whole, final2)
		}
		got, err := client.Responses.Get(context.Background(), id, responses.ResponseGetParams{})
		if err != nil || !got.Background || got.OutputText() != want {
			t.Fatalf("get: %+v, %v", got, err)
		}
	})
}

// Cancel stops a background response within 100 ms; its partial output is
// kept and it ends cancelled. A client that leaves a plain stream cancels
// the engine call promptly and the response is stored incomplete.
func TestResponsesCancelAndDisconnect(t *testing.T) {
	onBothBackends(t, envOptions{engine: fakeengine.Options{Tokens: 500, TokenDelay: 10 * time.Millisecond}}, func(t *testing.T, e *env) {
		client := e.sdk(e.guest())
		ctx := context.Background()
		bg, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Input: input("long"), Background: openai.Bool(true)})
		if err != nil || bg.Status != "in_progress" {
			t.Fatalf("background: %+v, %v", bg, err)
		}
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		cancelled, err := client.Responses.Cancel(ctx, bg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); cancelled.Status != "cancelled" || cancelled.OutputText() == "" || took > time.Second {
			t.Fatalf("cancel after %s: %+v", took, cancelled)
		}
		if again, err := client.Responses.Cancel(ctx, bg.ID); err != nil || again.Status != "cancelled" {
			t.Fatalf("cancelling a cancelled response: %+v, %v", again, err)
		}

		sctx, stop := context.WithCancel(ctx)
		stream := client.Responses.NewStreaming(sctx, responses.ResponseNewParams{Model: testModel, Input: input("long")})
		var id string
		for stream.Next() {
			ev := stream.Current()
			if ev.Type == "response.created" {
				id = ev.Response.ID
			}
			if ev.Type == "response.output_text.delta" {
				break
			}
		}
		left := time.Now()
		stop()
		stream.Close()
		select {
		case at := <-e.engine.Cancellations():
			if d := at.Sub(left); d > 100*time.Millisecond {
				t.Errorf("the engine call was cancelled %s after the client left", d)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the engine call was not cancelled")
		}
		if id == "" {
			t.Fatal("no response.created before leaving")
		}
		// The stored response: incomplete, with what was generated.
		deadline := time.Now().Add(2 * time.Second)
		for {
			got, err := client.Responses.Get(ctx, id, responses.ResponseGetParams{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == "incomplete" {
				if got.OutputText() == "" || got.IncompleteDetails.Reason != "interrupted" {
					t.Fatalf("the left response: %+v", got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the left response is still %s", got.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// A background response running on another replica (here: rows another
// process writes) streams from the store: the events stored so far, then
// those that follow, to its end.
func TestResponsesStreamFromAnotherReplica(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	var me struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(e.do("GET", "/auth/me", tok, nil, nil).body), &me); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	params, _ := json.Marshal(jresponses.Params{Background: true})
	row := &store.Response{UserID: me.ID, Model: testModel, Status: jresponses.StatusInProgress, Params: params, Owner: "elsewhere"}
	if err := e.store.CreateResponse(ctx, row, nil); err != nil {
		t.Fatal(err)
	}
	delta := func(seq int, text string) store.ResponseEvent {
		return store.ResponseEvent{Seq: seq, Type: "response.output_text.delta", Data: []byte(fmt.Sprintf(
			`{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_1","output_index":0,"content_index":0,"delta":%q}`, seq, text))}
	}
	if err := e.store.AppendResponseEvents(ctx, row.ID, []store.ResponseEvent{delta(0, "a"), delta(1, "b"), delta(2, "c")}); err != nil {
		t.Fatal(err)
	}
	client := e.sdk(tok)
	type result struct {
		text  string
		final *responses.Response
		seqs  []int64
		err   error
	}
	got := make(chan result, 1)
	go func() {
		s := client.Responses.GetStreaming(ctx, row.ID, responses.ResponseGetParams{StartingAfter: openai.Int(0)})
		_, text, final, seqs := collect(t, s.Next, s.Current)
		got <- result{text, final, seqs, s.Err()}
	}()
	time.Sleep(300 * time.Millisecond) // the stream waits for more
	if err := e.store.AppendResponseEvents(ctx, row.ID, []store.ResponseEvent{delta(3, "d")}); err != nil {
		t.Fatal(err)
	}
	row.Status = jresponses.StatusCompleted
	end := jresponses.Terminal(4, jresponses.EventCompleted, []byte(`{"id":"`+row.ID+`","object":"response","status":"completed","output":[]}`))
	if err := e.store.FinishResponse(ctx, row, store.ResponseEnd{Events: []store.ResponseEvent{{Seq: end.Seq, Type: end.Type, Data: end.Data}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.text != "bcd" || r.final == nil || r.final.Status != "completed" || fmt.Sprint(r.seqs) != "[1 2 3 4]" {
			t.Fatalf("streamed: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end with the response")
	}
}

// Idempotency-Key replays a response, and a stream as its events: one
// engine call, one stored response.
func TestResponsesIdempotent(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	for _, stream := range []bool{false, true} {
		hdr := map[string]string{"Idempotency-Key": fmt.Sprint("resp-", stream)}
		body := map[string]any{"model": testModel, "input": "Hi", "stream": stream}
		before := e.engine.Requests()
		first := e.do("POST", "/v1/responses", tok, body, hdr)
		second := e.do("POST", "/v1/responses", tok, body, hdr)
		if first.status != 200 || second.status != 200 || second.header.Get("Idempotent-Replayed") != "true" || string(first.body) != string(second.body) {
			t.Fatalf("stream %v: %d %d, replayed %q\n%s\n%s", stream, first.status, second.status, second.header.Get("Idempotent-Replayed"), first.body, second.body)
		}
		if n := e.engine.Requests() - before; n != 1 {
			t.Errorf("stream %v: %d engine calls", stream, n)
		}
		if stream && !strings.Contains(string(second.body), "event: response.completed") {
			t.Errorf("replayed stream: %s", second.body)
		}
	}
}

// A background response holds one of its principal's stream slots while it
// runs, as a stream does: a guest cannot start generations without bound.
func TestResponsesBackgroundStreamSlots(t *testing.T) {
	e := newEnv(t, envOptions{limits: &RateLimits{Guest: RateLimit{Streams: 1}},
		engine: fakeengine.Options{Tokens: 500, TokenDelay: 10 * time.Millisecond}})
	tok := e.guest()
	client := e.sdk(tok)
	ctx := context.Background()
	first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: testModel, Input: input("long"), Background: openai.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"model": testModel, "input": "another", "background": true}
	if r := e.do("POST", "/v1/responses", tok, body, nil); r.status != http.StatusTooManyRequests || r.errorCode(t) != "too_many_streams" {
		t.Fatalf("a second background response: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/responses/"+first.ID+"?stream=true", tok, nil, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("a stream beyond the limit: %d %.200s", r.status, r.body)
	}
	if _, err := client.Responses.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v1/responses", tok, body, nil)
	if r.status != http.StatusOK {
		t.Fatalf("after the first ended: %d %s", r.status, r.body)
	}
	var second struct{ ID string }
	r.decode(t, &second)
	if _, err := client.Responses.Cancel(ctx, second.ID); err != nil { // not left running for the server's shutdown to wait on
		t.Fatal(err)
	}
}
