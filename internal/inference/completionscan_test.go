package inference

import (
	"errors"
	"reflect"
	"testing"
)

// parseCompletionDecoded is ParseCompletion decoding with encoding/json
// only: the reference the one-pass scan must agree with (the answer read
// from the decoded completion is the same code for both).
func parseCompletionDecoded(body []byte) (content, finishReason string, usage *Usage, err error) {
	var c completion
	if err := unmarshalObject(body, &c); err != nil {
		return "", "", nil, badResponse("", "sent a response that is not a JSON object", err)
	}
	return c.answer(body)
}

func sameCompletion(t *testing.T, body []byte) {
	t.Helper()
	content, finish, usage, err := ParseCompletion(body)
	wcontent, wfinish, wusage, werr := parseCompletionDecoded(body)
	if content != wcontent || finish != wfinish || !reflect.DeepEqual(usage, wusage) {
		t.Fatalf("%q: read %q %q %+v, encoding/json %q %q %+v", body, content, finish, usage, wcontent, wfinish, wusage)
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: error %v, encoding/json %v", body, err, werr)
	}
	if err != nil {
		var e, w *Error
		if !errors.As(err, &e) || !errors.As(werr, &w) || e.Status != w.Status || e.Code != w.Code || e.Message != w.Message {
			t.Fatalf("%q: error %#v, encoding/json %#v", body, err, werr)
		}
	}
}

var completionCases = []string{
	`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \u00e9\n"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}`,
	` {"object":"text_completion","choices":[{"index":0,"text":"abc","finish_reason":"length"}]} `,
	`{"choices":[{"index":1,"message":{"content":"no"}},{"index":0,"message":{"content":"yes"},"finish_reason":null}]}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`,
	`{"choices":[]}`, `{"choices":null}`, `{}`, `{"choices":{}}`, `{"choices":[null]}`, `{"choices":[1]}`, `{"choices":["x"]}`,
	`{"choices":[{"index":"0"}]}`, `{"choices":[{"index":0.0}]}`, `{"choices":[{"index":1e0}]}`, `{"choices":[{"index":-0}]}`,
	`{"choices":[{"index":99999999999999999999}]}`, `{"choices":[{"index":null,"text":"t"}]}`,
	`{"choices":[{"message":"x"}]}`, `{"choices":[{"message":null,"text":"t"}]}`, `{"choices":[{"message":{"content":5}}]}`,
	`{"choices":[{"message":{"Content":"x"}}]}`, `{"Choices":[{"text":"x"}]}`, `{"choices":[{"TEXT":"x"}]}`,
	`{"choices":[{"message":{"content":"a"},"message":{"role":"r"}}]}`, `{"choices":[{"text":"a"}],"choices":[{"text":"b"}]}`,
	`{"choices":[{"finish_reason":"stop","finish_reason":null}]}`, `{"choices":[{"finish_reason":5}]}`,
	`{"choices":[{"text":"t"}],"usage":null}`, `{"choices":[{"text":"t"}],"usage":{}}`, `{"choices":[{"text":"t"}],"usage":[]}`,
	`{"choices":[{"text":"t"}],"usage":{"prompt_tokens":1},"usage":{"total_tokens":2}}`, `{"choices":[{"text":"t"}],"usage":{"prompt_tokens":1},"usage":null}`,
	`{"choices":[{"text":"t"}],"usage":{"prompt_tokens":1.5}}`, `{"choices":[{"text":"t"}],"usage":{"Prompt_Tokens":1}}`,
	`{"choices":[{"text":"t"}],"usage":{"prompt_tokens":null}}`,
	`{"error":{"message":"boom"}}`, `{"error":null,"choices":[{"text":"t"}]}`, `{"object":"error","message":"x"}`, `{"object":5,"choices":[]}`,
	`{"object":null,"choices":[]}`, `{"Object":"error","choices":[]}`, "{\"choices\":[{\"text\":\"bad \xff\"}]}", `{"choices":[{"te\u0078t":"esc"}]}`,
	`null`, `[]`, `"x"`, `1`, ``, `{`, `{"choices":[]} x`, `{"choices":[{"text":"t",}]}`,
}

// TestParseCompletionAsDecoded: the one-pass scan reads, and rejects with
// the same error, what decoding with encoding/json did.
func TestParseCompletionAsDecoded(t *testing.T) {
	for _, c := range completionCases {
		sameCompletion(t, []byte(c))
	}
}

func FuzzParseCompletionAsDecoded(f *testing.F) {
	for _, c := range completionCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameCompletion(t, b) })
}

// BenchmarkParseCompletion: an engine's answer read in one pass against the
// encoding/json reference (the baseline, in the same run).
func BenchmarkParseCompletion(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-fake-123","object":"chat.completion","created":1764154076,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello hello hello hello hello hello hello hello"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}`)
	for _, c := range []struct {
		name  string
		parse func([]byte) (string, string, *Usage, error)
	}{{"onepass", ParseCompletion}, {"encoding-json", parseCompletionDecoded}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := c.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
