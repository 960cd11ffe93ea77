package fakeengine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func newServer(t *testing.T, o fakeengine.Options) (*fakeengine.Engine, *httptest.Server) {
	t.Helper()
	e := fakeengine.New(o)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

func sdk(srv *httptest.Server, key string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	)
}

func answer(n int) string { return strings.Join(fakeengine.Answer(n), "") }

func TestAnswer(t *testing.T) {
	t.Parallel()
	if got, want := answer(8), "Hello from the fake engine. Hello from"; got != want {
		t.Errorf("answer(8) = %q, want %q", got, want)
	}
	if got := fakeengine.Answer(0); len(got) != 0 {
		t.Errorf("Answer(0) = %q", got)
	}
}

// The official SDK is the conformance client: if it parses the fake
// engine's answers, jan's relay of them is testable with it too.
func TestSDKChatCompletion(t *testing.T) {
	t.Parallel()
	e, srv := newServer(t, fakeengine.Options{APIKey: "sk-test"})
	client := sdk(srv, "sk-test")
	ctx := context.Background()

	res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "fake-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say one two three")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ID, "chatcmpl-") || res.Model != "fake-model" || len(res.Choices) != 1 {
		t.Fatalf("unexpected completion %+v", res)
	}
	if c := res.Choices[0]; c.Message.Content != answer(8) || c.FinishReason != "stop" || c.Message.Role != "assistant" {
		t.Errorf("choice = %+v", c)
	}
	if u := res.Usage; u.PromptTokens != 4 || u.CompletionTokens != 8 || u.TotalTokens != 12 {
		t.Errorf("usage = %+v, want 4+8", u)
	}
	if e.Requests() != 1 {
		t.Errorf("Requests() = %d, want 1", e.Requests())
	}
}

func TestSDKChatStream(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{Tokens: 13})
	client := sdk(srv, "x")
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "fake-model",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi there")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		chunk := stream.Current()
		if chunks == 0 && (len(chunk.Choices) != 1 || chunk.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk has no assistant role: %s", chunk.RawJSON())
		}
		if chunk.Object != "chat.completion.chunk" {
			t.Errorf("object = %q", chunk.Object)
		}
		acc.AddChunk(chunk)
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	// role chunk + 13 tokens + finish chunk + usage chunk
	if chunks != 16 {
		t.Errorf("got %d chunks, want 16", chunks)
	}
	if got := acc.Choices[0].Message.Content; got != answer(13) {
		t.Errorf("content = %q, want %q", got, answer(13))
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish_reason = %q", acc.Choices[0].FinishReason)
	}
	if u := acc.Usage; u.PromptTokens != 2 || u.CompletionTokens != 13 || u.TotalTokens != 15 {
		t.Errorf("usage = %+v", u)
	}
}

func TestSDKCompletions(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{Models: []string{"a", "b"}})
	client := sdk(srv, "x")
	ctx := context.Background()

	res, err := client.Completions.New(ctx, openai.CompletionNewParams{
		Model:     "b",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon a time")},
		MaxTokens: openai.Int(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Object != "text_completion" || res.Choices[0].Text != answer(3) || res.Choices[0].FinishReason != "length" {
		t.Errorf("completion = %s", res.RawJSON())
	}
	if res.Usage.PromptTokens != 4 || res.Usage.CompletionTokens != 3 {
		t.Errorf("usage = %+v", res.Usage)
	}

	stream := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
		Model:  "a",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")},
	})
	var text strings.Builder
	finish := ""
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Text)
			if c.Choices[0].FinishReason != "" {
				finish = string(c.Choices[0].FinishReason)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != answer(8) || finish != "stop" {
		t.Errorf("streamed %q (finish %q)", text.String(), finish)
	}

	models, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(models.Data) != 2 || models.Data[0].ID != "a" || models.Data[1].ID != "b" {
		t.Errorf("models = %s", models.RawJSON())
	}
}

func TestSDKErrors(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{APIKey: "right"})
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "fake-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	var apiErr *openai.Error

	wrong, right := sdk(srv, "wrong"), sdk(srv, "right")
	_, err := wrong.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Errorf("wrong key: %v", err)
	}
	params.Model = "nope"
	_, err = right.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}

// post sends a raw completion request and returns the response.
func post(t *testing.T, srv *httptest.Server, path, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads a stream's data lines until EOF or an error.
func events(r io.Reader) (data []string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	return data, sc.Err()
}

func chatBody(content string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model":    "fake-model",
		"stream":   stream,
		"messages": []map[string]string{{"role": "user", "content": content}},
	})
	return string(b)
}

// contentOf joins the delta contents of chat chunks.
func contentOf(t *testing.T, data []string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range data {
		if d == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("bad chunk %q: %v", d, err)
		}
		if len(c.Choices) > 0 {
			b.WriteString(c.Choices[0].Delta.Content)
		}
	}
	return b.String()
}

func TestDirectives(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{})

	t.Run("tokens", func(t *testing.T) {
		resp := post(t, srv, "/v1/chat/completions", chatBody("[fake:tokens=50] go", true))
		data, err := events(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if got := contentOf(t, data); got != answer(50) {
			t.Errorf("content = %q", got)
		}
		if data[len(data)-1] != "[DONE]" {
			t.Errorf("last event %q", data[len(data)-1])
		}
	})
	t.Run("status", func(t *testing.T) {
		resp := post(t, srv, "/v1/chat/completions", chatBody("[fake:status=503]", false))
		var env struct {
			Error struct{ Message, Type string } `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 503 || env.Error.Message == "" || env.Error.Type != "server_error" {
			t.Errorf("status %d, envelope %+v", resp.StatusCode, env)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		resp := post(t, srv, "/v1/chat/completions", chatBody("[fake:garbage]", false))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Valid(body) {
			t.Errorf("status %d, body %q", resp.StatusCode, body)
		}
	})
	t.Run("disconnect", func(t *testing.T) {
		resp := post(t, srv, "/v1/chat/completions", chatBody("[fake:disconnect=3]", true))
		data, err := events(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading a dropped stream: err = %v, want unexpected EOF", err)
		}
		if got := contentOf(t, data); got != answer(3) {
			t.Errorf("content before the drop = %q", got)
		}
	})
	t.Run("disconnect before answering", func(t *testing.T) {
		_, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("[fake:disconnect=0]", false)))
		if err == nil {
			t.Error("expected the connection to be closed without a response")
		}
	})
	t.Run("error event", func(t *testing.T) {
		resp := post(t, srv, "/v1/chat/completions", chatBody("[fake:error]", true))
		data, _ := events(resp.Body)
		// role chunk, one token, the error, [DONE]
		if len(data) != 4 || !strings.HasPrefix(data[2], `{"error":`) || data[3] != "[DONE]" {
			t.Errorf("events = %q", data)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		resp := post(t, srv, "/v1/chat/completions", chatBody("[fake:explode]", false))
		if resp.StatusCode != 400 {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("only the last user message", func(t *testing.T) {
		body := `{"model":"fake-model","messages":[{"role":"user","content":"[fake:status=500]"},` +
			`{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"text","text":"[fake:tokens=2]"}]}]}`
		resp := post(t, srv, "/v1/chat/completions", body)
		var res struct {
			Choices []struct{ Message struct{ Content string } } `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		if res.Choices[0].Message.Content != answer(2) {
			t.Errorf("content %q", res.Choices[0].Message.Content)
		}
	})
	t.Run("completions prompt", func(t *testing.T) {
		resp := post(t, srv, "/v1/completions", `{"model":"fake-model","prompt":"[fake:status=429]"}`)
		if resp.StatusCode != 429 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestHangAndCancellation(t *testing.T) {
	t.Parallel()
	e, srv := newServer(t, fakeengine.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(chatBody("[fake:hang]", true)))
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	select {
	case at := <-e.Cancellations():
		if d := at.Sub(start); d < 90*time.Millisecond || d > 2*time.Second {
			t.Errorf("cancellation noticed after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cancellation reported")
	}
}

func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	e, srv := newServer(t, fakeengine.Options{Tokens: 1000, TokenDelay: 5 * time.Millisecond})
	resp := post(t, srv, "/v1/chat/completions", chatBody("hi", true))
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	resp.Body.Close()
	select {
	case at := <-e.Cancellations():
		if d := at.Sub(closed); d > time.Second {
			t.Errorf("cancellation noticed %v after the client left", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cancellation reported")
	}
}

func TestScript(t *testing.T) {
	t.Parallel()
	e, srv := newServer(t, fakeengine.Options{})
	e.Script(fakeengine.Step{Status: 500}, fakeengine.Step{Status: 400}, fakeengine.Step{Tokens: 3})
	for i, want := range []int{500, 400, 200, 200} {
		resp := post(t, srv, "/v1/chat/completions", chatBody("hi", false))
		if resp.StatusCode != want {
			t.Errorf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if e.Requests() != 4 {
		t.Errorf("Requests() = %d", e.Requests())
	}
}

func TestTiming(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{Tokens: 6, TTFT: 60 * time.Millisecond, TokenDelay: 20 * time.Millisecond})
	start := time.Now()
	resp := post(t, srv, "/v1/chat/completions", chatBody("hi", true))
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ttft := time.Since(start)
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	// ttft + 5 delays = 160ms; allow for a loaded machine above, none below.
	if ttft < 60*time.Millisecond || ttft > 500*time.Millisecond {
		t.Errorf("time to first event %v, want ~60ms", ttft)
	}
	if total < 160*time.Millisecond || total > time.Second {
		t.Errorf("stream took %v, want ~160ms", total)
	}

	start = time.Now()
	resp = post(t, srv, "/v1/chat/completions", chatBody("hi", false))
	_, _ = io.Copy(io.Discard, resp.Body)
	if d := time.Since(start); d < 160*time.Millisecond || d > time.Second {
		t.Errorf("non-streamed answer took %v, want ~160ms", d)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{})
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"bad json", "POST", "/v1/chat/completions", `{`, 400},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"fake-model","messages":[]}`, 400},
		{"unknown route", "GET", "/v1/embeddings", ``, 404},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env struct {
				Error *struct{ Message string } `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&env)
			if resp.StatusCode != tt.status || env.Error == nil || env.Error.Message == "" {
				t.Errorf("status %d (want %d), envelope %+v", resp.StatusCode, tt.status, env.Error)
			}
		})
	}
}

// [fake:tool=NAME] calls a function the request offers, streamed or not,
// as the SDK reads it; a tool result is answered in text that quotes it.
func TestSDKToolCalls(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, fakeengine.Options{})
	client := sdk(srv, "")
	ctx := context.Background()
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather"})}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather? [fake:tool=get_weather]")}

	res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fake-model", Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	calls := res.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris"}` || res.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("non-streamed tool call: %+v", res.Choices[0])
	}

	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "fake-model", Messages: msgs, Tools: tools})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if c := acc.Choices[0].Message.ToolCalls; len(c) != 1 || c[0].Function.Arguments != `{"city":"Paris"}` || c[0].ID == "" {
		t.Fatalf("streamed tool call: %+v", acc.Choices[0].Message)
	}

	// Without the function in tools the directive answers in text.
	res, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fake-model", Messages: msgs})
	if err != nil || len(res.Choices[0].Message.ToolCalls) != 0 || res.Choices[0].Message.Content == "" {
		t.Fatalf("no tools offered: %+v, %v", res, err)
	}

	msgs = append(msgs, res.Choices[0].Message.ToParam(), openai.ToolMessage("sunny, 21°C", calls[0].ID))
	res, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fake-model", Messages: msgs, Tools: tools})
	if err != nil || res.Choices[0].Message.Content != "The tool said: sunny, 21°C" {
		t.Fatalf("answer to a tool result: %+v, %v", res, err)
	}
}
