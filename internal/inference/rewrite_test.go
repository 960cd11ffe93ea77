package inference_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/janhq/jan/internal/inference"
)

func TestSetModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, model, want string
	}{
		{"replace", `{"model":"jan","messages":[]}`, "served", `{"model":"served","messages":[]}`},
		{"keeps formatting and numbers", "{ \"temperature\": 0.70 ,\n  \"model\" : \"jan\",\"x\":1e3}", "s", "{ \"temperature\": 0.70 ,\n  \"model\" : \"s\",\"x\":1e3}"},
		{"non-string model", `{"model":null,"a":1}`, "s", `{"model":"s","a":1}`},
		{"insert", `{"messages":[]}`, "s", `{"model":"s","messages":[]}`},
		{"insert into empty", ` { } `, "s", ` {"model":"s" } `},
		{"nested model untouched", `{"tools":[{"model":"x"}],"meta":{"model":"y"},"model":"jan"}`, "s", `{"tools":[{"model":"x"}],"meta":{"model":"y"},"model":"s"}`},
		{"model inside strings untouched", `{"content":"\"model\":\"jan\"","model":"jan"}`, "s", `{"content":"\"model\":\"jan\"","model":"s"}`},
		{"escaped key", `{"mod\u0065l":"jan"}`, "s", `{"mod\u0065l":"s"}`},
		{"duplicate keys all replaced", `{"model":"a","model":"b"}`, "s", `{"model":"s","model":"s"}`},
		{"quoting", `{"model":"a"}`, `q"<x>/é`, `{"model":"q\"<x>/é"}`},
		{"object value", `{"model":{"a":[1,{"b":"}"}]},"z":true}`, "s", `{"model":"s","z":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := inference.SetModel([]byte(tt.in), tt.model)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("SetModel(%s) =\n  %s\nwant\n  %s", tt.in, got, tt.want)
			}
		})
	}
	// A body that names the model already is returned as it is.
	in := []byte(`{"messages":[],"model":"served/x"}`)
	if got, err := inference.SetModel(in, "served/x"); err != nil || &got[0] != &in[0] {
		t.Errorf("SetModel copied a body whose model was already set (%v)", err)
	}
	for _, bad := range []string{``, `[]`, `"model"`, `{"model":}`, `{"a":1`, `null`} {
		if _, err := inference.SetModel([]byte(bad), "s"); err == nil {
			t.Errorf("SetModel(%q): no error", bad)
		}
	}
}

func TestRewriteModel(t *testing.T) {
	t.Parallel()
	chunk := `{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"janhq/Jan-v1-4B","choices":[{"delta":{"content":"the \"model\":\"janhq/Jan-v1-4B\""}}]}`
	tests := []struct {
		name, in, from, to, want string
	}{
		{"chunk", chunk, "janhq/Jan-v1-4B", "jan-v1",
			`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"jan-v1","choices":[{"delta":{"content":"the \"model\":\"janhq/Jan-v1-4B\""}}]}`},
		{"spaces", `{"model" : "a", "x": 1}`, "a", "b", `{"model" : "b", "x": 1}`},
		{"object:model value is skipped", `{"object":"model","model":"a"}`, "a", "b", `{"object":"model","model":"b"}`},
		{"sse line", "data: {\"model\":\"a\"}\n\n", "a", "b", "data: {\"model\":\"b\"}\n\n"},
		{"prefix of another name", `{"model":"ab"}`, "a", "b", `{"model":"ab"}`},
		{"not found", `{"model":"c"}`, "a", "b", `{"model":"c"}`},
		{"same", `{"model":"a"}`, "a", "a", `{"model":"a"}`},
		{"needs quoting", `{"model":"a"}`, "a", `x"y`, `{"model":"x\"y"}`},
	}
	for _, tt := range tests {
		if got := inference.RewriteModel([]byte(tt.in), tt.from, tt.to); string(got) != tt.want {
			t.Errorf("%s: got\n  %s\nwant\n  %s", tt.name, got, tt.want)
		}
	}
	in := []byte(`{"model":"a"}`)
	if out := inference.RewriteModel(in, "x", "y"); &out[0] != &in[0] {
		t.Error("unchanged body was copied")
	}
	inference.RewriteModel(in, "a", "longer")
	if string(in) != `{"model":"a"}` {
		t.Error("RewriteModel modified its input")
	}
}

func FuzzSetModel(f *testing.F) {
	for _, seed := range []string{
		`{"model":"a","messages":[{"role":"user","content":"hi"}]}`,
		`{}`,
		`{"a":{"model":"x"},"b":["model"]}`,
		`{"mod\u0065l":1,"model":[1,2,{"c":"}"}]}`,
		` {"stream" : true , "model":null } `,
		`[1]`,
		`{`,
		` {"model"`,
		`"x"`,
		`{"a":"\\","model":"q"}`,
	} {
		f.Add([]byte(seed), "served/name")
	}
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := inference.SetModel(body, model)
		// What Post uses skips the validation: on any input it must not
		// panic, and on what SetModel accepts it must give the same body.
		same, serr := inference.SetModelOfValid(body, model)
		if err == nil && (serr != nil || !bytes.Equal(same, out)) {
			t.Fatalf("without validation: %q, %v; with: %q", same, serr, out)
		}
		var orig map[string]any
		if json.Unmarshal(body, &orig) != nil || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			if err == nil {
				t.Fatalf("SetModel accepted %q", body)
			}
			return
		}
		if err != nil {
			t.Fatalf("SetModel(%q): %v", body, err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output is not JSON: %q (%v)", out, err)
		}
		// The model is set (invalid UTF-8 aside, which JSON cannot carry)...
		if utf8.ValidString(model) && got["model"] != model {
			t.Fatalf("model = %v, want %q", got["model"], model)
		}
		// ...and nothing else changed.
		delete(orig, "model")
		delete(got, "model")
		if !reflect.DeepEqual(orig, got) {
			t.Fatalf("other fields changed:\n%q\n%q", body, out)
		}
	})
}

// FuzzAppendJSONString checks AppendJSONString against encoding/json with
// HTML escaping off, byte for byte.
func FuzzAppendJSONString(f *testing.F) {
	for _, seed := range []string{"", "hello", "a\"b\\c", "line\nbreak\ttab\r\b\f\x00\x1f\x7f", "é ü 日本 🙂", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x80", "<&>"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := inference.AppendJSONString([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("AppendJSONString(%q) = %s, encoding/json says %s", s, got[1:], want)
		}
	})
}
