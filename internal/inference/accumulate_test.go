package inference_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/inference"
)

// streamFrom runs one streamed request against a fake engine and feeds
// every event to an Accumulator.
func streamFrom(t *testing.T, path, body string) (*inference.Accumulator, error) {
	t.Helper()
	srv := httptest.NewServer(fakeengine.New(fakeengine.Options{}))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	acc := &inference.Accumulator{Provider: "fake"}
	er := inference.NewEventReader(resp.Body)
	for {
		data, err := er.Next()
		if err != nil {
			return acc, err
		}
		if err := acc.AddChunk(data); err != nil {
			return acc, err
		}
	}
}

func TestAccumulatorChat(t *testing.T) {
	t.Parallel()
	acc, err := streamFrom(t, "/v1/chat/completions",
		`{"model":"fake-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"[fake:tokens=20] hi"}]}`)
	if !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if want := strings.Join(fakeengine.Answer(20), ""); acc.Content != want {
		t.Errorf("Content = %q, want %q", acc.Content, want)
	}
	if !strings.HasPrefix(acc.ID, "chatcmpl-") || acc.Model != "fake-model" || acc.Role != "assistant" || acc.FinishReason != "stop" {
		t.Errorf("accumulated %+v", acc)
	}
	if acc.Usage == nil || *acc.Usage != (inference.Usage{PromptTokens: 2, CompletionTokens: 20, TotalTokens: 22}) {
		t.Errorf("Usage = %+v", acc.Usage)
	}
}

func TestAccumulatorCompletions(t *testing.T) {
	t.Parallel()
	acc, _ := streamFrom(t, "/v1/completions", `{"model":"fake-model","stream":true,"max_tokens":5,"prompt":"a b c"}`)
	if want := strings.Join(fakeengine.Answer(5), ""); acc.Content != want || acc.FinishReason != "length" || acc.Usage != nil {
		t.Errorf("accumulated %+v, want content %q", acc, want)
	}
}

func TestAccumulatorErrors(t *testing.T) {
	t.Parallel()
	acc, err := streamFrom(t, "/v1/chat/completions", `{"model":"fake-model","stream":true,"messages":[{"role":"user","content":"[fake:error]"}]}`)
	var e *inference.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "upstream_error" || !strings.Contains(e.Message, "scripted error event") || e.Provider != "fake" {
		t.Errorf("error event: %#v", err)
	}
	if acc.Content != "Hello" {
		t.Errorf("content before the error = %q", acc.Content)
	}

	_, err = streamFrom(t, "/v1/chat/completions", `{"model":"fake-model","stream":true,"messages":[{"role":"user","content":"[fake:garbage]"}]}`)
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "upstream_bad_response" {
		t.Errorf("garbage: %v", err)
	}

	for _, data := range []string{`null`, `[1]`, `{"choices":"x"}`, `{"object":"error","message":"boom"}`} {
		var a inference.Accumulator
		if err := a.AddChunk([]byte(data)); !errors.As(err, &e) {
			t.Errorf("AddChunk(%s) = %v, want *Error", data, err)
		}
	}
}

func TestAccumulatorChoices(t *testing.T) {
	t.Parallel()
	var a inference.Accumulator
	for _, c := range []string{
		`{"id":"x","choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"role":"assistant","content":"a"}}]}`,
		`{"id":"y","choices":[{"index":0,"delta":{"content":null},"finish_reason":null}],"usage":null,"error":null}`,
		`{"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]}`,
		` { "choices" : [ { "delta" : { "content" : "\n\"q\" \u00e9\ud83d\ude00" } } ] } `,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"{\"content\":\"no\"}"}}]}}]}`,
		`[DONE]`,
	} {
		if err := a.AddChunk([]byte(c)); err != nil {
			t.Fatalf("AddChunk(%s): %v", c, err)
		}
	}
	if a.Content != "ab\n\"q\" é😀" || a.ID != "x" || a.FinishReason != "stop" || a.Usage != nil {
		t.Errorf("accumulated %+v", a)
	}
}

func TestParseCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, content, finish string
		usage                       *inference.Usage
		code                        string
	}{
		{"chat", `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
			"hi", "stop", &inference.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}, ""},
		{"text", `{"object":"text_completion","choices":[{"index":0,"text":"yo","finish_reason":"length"}]}`, "yo", "length", nil, ""},
		{"tool call only", `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[]},"finish_reason":"tool_calls"}]}`, "", "tool_calls", nil, ""},
		{"empty choices", `{"choices":[]}`, "", "", nil, ""},
		{"error envelope", `{"error":{"message":"overloaded"}}`, "", "", nil, "upstream_error"},
		{"no choices", `{"id":"x"}`, "", "", nil, "upstream_bad_response"},
		{"garbage", `garbage: this is not JSON`, "", "", nil, "upstream_bad_response"},
	}
	for _, tt := range tests {
		content, finish, usage, err := inference.ParseCompletion([]byte(tt.body))
		if tt.code != "" {
			var e *inference.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Status != 502 {
				t.Errorf("%s: err = %v, want %s", tt.name, err, tt.code)
			}
			continue
		}
		if err != nil || content != tt.content || finish != tt.finish || fmt.Sprint(usage) != fmt.Sprint(tt.usage) {
			t.Errorf("%s: got %q %q %v %v", tt.name, content, finish, usage, err)
		}
	}
}

// Appending must stay linear: 100k tokens in well under a second even
// under -race.
func TestAccumulatorLinear(t *testing.T) {
	t.Parallel()
	var a inference.Accumulator
	chunk := []byte(`{"choices":[{"index":0,"delta":{"content":"token "}}]}`)
	for range 100_000 {
		if err := a.AddChunk(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.Content) != 600_000 {
		t.Errorf("len(Content) = %d", len(a.Content))
	}
}

func BenchmarkAccumulator(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-fake1","object":"chat.completion.chunk","created":1730000000,"model":"fake-model","choices":[{"index":0,"delta":{"content":" engine"},"logprobs":null,"finish_reason":null}]}`)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	a := new(inference.Accumulator)
	for i := 0; b.Loop(); i++ {
		if i%512 == 0 { // an answer of 512 tokens, as a stream's
			a = new(inference.Accumulator)
		}
		if err := a.AddChunk(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewriteModel(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-fake1","object":"chat.completion.chunk","created":1730000000,"model":"janhq/Jan-v1-4B","choices":[{"index":0,"delta":{"content":" engine"},"logprobs":null,"finish_reason":null}]}`)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		inference.RewriteModel(chunk, "janhq/Jan-v1-4B", "jan-v1")
	}
}

func BenchmarkSetModel(b *testing.B) {
	body := []byte(`{"model":"jan-v1","stream":true,"temperature":0.7,"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 200) + `"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inference.SetModel(body, "janhq/Jan-v1-4B"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventReader(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%d\"}}]}\n\n", i)
	}
	stream := sb.String()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		er := inference.NewEventReader(strings.NewReader(stream))
		for {
			if _, err := er.Next(); err != nil {
				break
			}
		}
	}
}

// FuzzAccumulator checks that AddChunk never panics and agrees with
// encoding/json on the content it takes from a chunk.
func FuzzAccumulator(f *testing.F) {
	for _, seed := range []string{
		`{"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"text":"a\nb","finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`,
		`{"choices":[{"index":1,"delta":{"content":"x"}},{"delta":{"content":"\u00e9"}}]}`,
		`{"error":{"message":"boom"}}`,
		`{"choices":null}`,
		`[DONE]`,
		`{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a inference.Accumulator
		err := a.AddChunk(data)
		var ref struct {
			Choices []struct {
				Index *int `json:"index"`
				Delta *struct {
					Content *string `json:"content"`
				} `json:"delta"`
				Text *string `json:"text"`
			} `json:"choices"`
		}
		if err != nil || json.Unmarshal(data, &ref) != nil {
			return
		}
		for _, k := range []string{"choices", "index", "delta", "content", "text"} {
			if bytes.Count(bytes.ToLower(data), []byte(k)) != bytes.Count(data, []byte(k)) {
				return // encoding/json matches keys case-insensitively; engines do not
			}
		}
		want := ""
		for _, c := range ref.Choices {
			if c.Index != nil && *c.Index != 0 {
				continue
			}
			if c.Delta != nil && c.Delta.Content != nil {
				want += *c.Delta.Content
			}
			if c.Text != nil {
				want += *c.Text
			}
		}
		if a.Content != want {
			t.Fatalf("content %q, encoding/json says %q", a.Content, want)
		}
	})
}

// Tool calls stream in parts (id and name first, then pieces of the
// arguments, by index); each chunk's Delta says what it added.
func TestAccumulatorToolCalls(t *testing.T) {
	var acc inference.Accumulator
	for i, chunk := range []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check."}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"get_time","arguments":"{}"}},{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	} {
		if err := acc.AddChunk([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			if acc.Delta.Content != "Let me check." || len(acc.Delta.ToolCalls) != 0 {
				t.Errorf("chunk 0 delta: %+v", acc.Delta)
			}
		case 3:
			if acc.Delta.Content != "" || len(acc.Delta.ToolCalls) != 2 || acc.Delta.ToolCalls[1] != (inference.ToolCallDelta{Index: 0, Arguments: `"Paris"}`}) {
				t.Errorf("chunk 3 delta: %+v", acc.Delta)
			}
		}
	}
	want := []inference.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "get_time", Arguments: "{}"}}
	if !slices.Equal(acc.ToolCalls, want) || acc.Content != "Let me check." || acc.FinishReason != "tool_calls" {
		t.Fatalf("accumulated %+v, content %q, finish %q", acc.ToolCalls, acc.Content, acc.FinishReason)
	}
}

func TestUsageOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want *inference.Usage
	}{
		{`{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}`, &inference.Usage{PromptTokens: 3, CompletionTokens: 5, TotalTokens: 8}},
		{"{\"usage\" :\n {\"prompt_tokens\":1, \"completion_tokens\":2, \"total_tokens\":3} }", &inference.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		{`{"choices":[{"message":{"content":"\"usage\": {}"}}],"usage":null}`, nil},
		{`{"choices":[]}`, nil},
		{`{"usage":{"prompt_tokens":1`, nil},     // cut short
		{`{"usage":"many"}`, nil},                // not an object
		{`{"usage":{"prompt_tokens":"1"}}`, nil}, // wrong type
	} {
		got := inference.UsageOf([]byte(tt.in))
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("UsageOf(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
