package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
)

// parseChatRequestDecoded is parseChatRequest as it was written with
// encoding/json, decoding each part it checks: the reference the one-pass
// parse must agree with.
func parseChatRequestDecoded(b []byte, streamQuery bool) (*chatRequest, error) {
	req := &chatRequest{Store: true, Stream: streamQuery}
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return nil, errInvalid("", "invalid_json", "request body must be a JSON object")
	}
	if err := json.Unmarshal(b, &req.fields); err != nil {
		return nil, jsonError(err, "")
	}
	if req.fields == nil {
		return nil, errInvalid("", "invalid_json", "request body must be a JSON object")
	}
	if err := stringFieldDecoded(req.fields, "model", true, &req.Model); err != nil {
		return nil, err
	}
	raw, ok := req.fields["messages"]
	if !ok {
		return nil, errInvalid("messages", "missing_field", "messages is required")
	}
	if err := json.Unmarshal(raw, &req.Messages); err != nil || raw[0] != '[' {
		return nil, errInvalid("messages", "invalid_type", "messages: expected an array of messages")
	}
	if len(req.Messages) == 0 {
		return nil, errInvalid("messages", "empty_messages", "messages must contain at least one message")
	}
	for i, m := range req.Messages {
		var msg struct {
			Role    json.RawMessage `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		p := "messages[" + strconv.Itoa(i) + "]"
		if len(m) == 0 || m[0] != '{' {
			return nil, errInvalid(p, "invalid_type", "%s: expected an object with role and content", p)
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			return nil, jsonError(err, p)
		}
		var role string
		if len(msg.Role) == 0 {
			return nil, errInvalid(p+".role", "missing_field", "%s.role is required", p)
		}
		if err := json.Unmarshal(msg.Role, &role); err != nil {
			return nil, errInvalid(p+".role", "invalid_type", "%s.role: expected a string", p)
		}
		if !chatRoles[role] {
			return nil, errInvalid(p+".role", "invalid_role", "%s.role: unknown role %q (want system, developer, user, assistant or tool)", p, role)
		}
		if len(msg.Content) > 0 && msg.Content[0] != '"' && msg.Content[0] != '[' && string(msg.Content) != "null" {
			return nil, errInvalid(p+".content", "invalid_type", "%s.content: expected a string or an array of content parts", p)
		}
	}
	if err := boolFieldDecoded(req.fields, "stream", &req.Stream); err != nil {
		return nil, err
	}
	if err := boolFieldDecoded(req.fields, "store", &req.Store); err != nil {
		return nil, err
	}
	if err := parseConversationDecoded(req); err != nil {
		return nil, err
	}
	if raw, ok := req.fields["stream_options"]; ok && string(raw) != "null" && (len(raw) == 0 || raw[0] != '{') {
		return nil, errInvalid("stream_options", "invalid_type", "stream_options: expected an object")
	}
	return req, nil
}

func stringFieldDecoded(fields map[string]json.RawMessage, name string, required bool, dst *string) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		if required {
			return errInvalid(name, "missing_field", "%s is required", name)
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return errInvalid(name, "invalid_type", "%s: expected a string", name)
	}
	if required && *dst == "" {
		return errInvalid(name, "missing_field", "%s must not be empty", name)
	}
	return nil
}

func boolFieldDecoded(fields map[string]json.RawMessage, name string, dst *bool) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return errInvalid(name, "invalid_type", "%s: expected true or false", name)
	}
	return nil
}

// parseConversationDecoded reads "conversation" as parseConversation does,
// with the string form decoded by encoding/json.
func parseConversationDecoded(req *chatRequest) error {
	if raw, ok := req.fields["conversation"]; ok && len(raw) > 0 && raw[0] != '{' && string(raw) != "null" {
		if err := stringFieldDecoded(req.fields, "conversation", false, &req.Conversation); err != nil {
			return errInvalid("conversation", "invalid_type", "conversation: expected an id or an object with an optional id and title")
		}
		return checkText("conversation", req.Conversation)
	}
	return req.parseConversation()
}

// sameParse fails t unless parseChatRequest and the encoding/json
// reference agree on b: the same error, or the same request.
func sameParse(t *testing.T, b []byte, streamQuery bool) {
	t.Helper()
	got, gerr := parseChatRequest(b, streamQuery)
	want, werr := parseChatRequestDecoded(b, streamQuery)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%q: error %v, encoding/json %v", b, gerr, werr)
	}
	if werr != nil {
		var ga, wa *apiError
		if !errors.As(gerr, &ga) || !errors.As(werr, &wa) || *ga != *wa {
			t.Fatalf("%q: error %#v, encoding/json %#v", b, gerr, werr)
		}
		return
	}
	if got.Model != want.Model || got.Stream != want.Stream || got.Store != want.Store ||
		got.Conversation != want.Conversation || got.NewConversation != want.NewConversation || got.NewTitle != want.NewTitle {
		t.Fatalf("%q: parsed %+v, encoding/json %+v", b, got, want)
	}
	if len(got.fields) != len(want.fields) {
		t.Fatalf("%q: fields %q, encoding/json %q", b, got.fields, want.fields)
	}
	for k, v := range want.fields {
		if !bytes.Equal(got.fields[k], v) {
			t.Fatalf("%q: field %q = %s, encoding/json %s", b, k, got.fields[k], v)
		}
	}
	if !reflect.DeepEqual(got.Messages, want.Messages) {
		t.Fatalf("%q: messages %q, encoding/json %q", b, got.Messages, want.Messages)
	}
	for i, raw := range want.Messages {
		var m struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		_ = json.Unmarshal(raw, &m)
		if p := got.parsed[i]; p.Role != m.Role || !bytes.Equal(p.Content, m.Content) {
			t.Fatalf("%q: message %d read as %q %s, encoding/json %q %s", b, i, p.Role, p.Content, m.Role, m.Content)
		}
	}
}

var chatParseCases = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	` {"model":"m","messages":[{"role":"user","content":"hi"}]} `,
	"{\n \"model\" : \"m\" ,\n \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" } , {\"role\":\"assistant\",\"content\":null} ]\n}",
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"m","conversation":"conv_1","store":false,"messages":[{"role":"system","content":null}]}`,
	`{"model":"m","conversation":{"title":"t"},"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","conversation":{"id":"conv_2"},"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","conversation":null,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","conversation":5,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","conversation":"a\u0000b","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","messages":[{"ROLE":"user","Content":"x"}]}`,
	`{"model":"m","messages":[{"role":"user","role":"bogus","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"bogus","role":"user","content":"x"}]}`,
	`{"model":"m","model":"n","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"us\u0065r","content":"\u00e9\n"}]}`,
	`{"m\u006fdel":"m","messages":[{"role":"user","content":"x"}]}`,
	"{\"model\":\"m\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"\xfe\"}]}",
	"{\"model\xff\":\"m\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
	`{"model":"m","messages":[{"role":null,"content":"x"}]}`,
	`{"model":"m","messages":[{"role":5,"content":"x"}]}`,
	`{"model":"m","messages":[{"content":"x"}]}`,
	`{"model":"m","messages":[{"role":"user","content":5}]}`,
	`{"model":"m","messages":[{"role":"user","content":{}}]}`,
	`{"model":"m","messages":[1]}`, `{"model":"m","messages":[[]]}`, `{"model":"m","messages":["x"]}`,
	`{"model":"m","messages":[]}`, `{"model":"m","messages":{}}`, `{"model":"m","messages":null}`, `{"model":"m","messages":"x"}`,
	`{"model":"m"}`, `{"model":"","messages":[{"role":"user","content":"x"}]}`, `{"model":null,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":5,"messages":[{"role":"user","content":"x"}]}`, `{"messages":[]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"no"}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":null}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"store":1}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":[]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}],"temperature":0.5}`,
	`[]`, `{`, `null`, `{}`, `{"model":"m",}`, `{"model":"m","messages":[{"role":"user","content":"x"}]} x`,
	`{"model":"m","messages":[{"role":"user","content":"x"}]}{}`, `{"a":1 "b":2}`, `"x"`, ``, ` `,
}

// TestParseChatRequestAsDecoded: the one-pass parse accepts, reads and
// rejects (with the same error) what encoding/json's decoding did.
func TestParseChatRequestAsDecoded(t *testing.T) {
	for _, c := range chatParseCases {
		sameParse(t, []byte(c), false)
		sameParse(t, []byte(c), true)
	}
}

func FuzzParseChatRequestAsDecoded(f *testing.F) {
	for _, c := range chatParseCases {
		f.Add([]byte(c), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, streamQuery bool) { sameParse(t, b, streamQuery) })
}

// BenchmarkParseChatRequest: a full-path request's parse and the turn's
// reads of its messages, one pass against the encoding/json reference (the
// baseline, in the same run).
func BenchmarkParseChatRequest(b *testing.B) {
	body := []byte(`{"model":"bench-model","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello."}],"conversation":"conv_0PxR4vG2dH8a0xTqYb1n9zKc"}`)
	b.Run("onepass", func(b *testing.B) {
		for b.Loop() {
			req, err := parseChatRequest(body, false)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range req.parsed {
				if _, err := contentText(m.Content, "content"); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			req, err := parseChatRequestDecoded(body, false)
			if err != nil {
				b.Fatal(err)
			}
			for _, raw := range req.Messages {
				var m struct {
					Role    string          `json:"role"`
					Content json.RawMessage `json:"content"`
				}
				_ = json.Unmarshal(raw, &m)
				var s string
				if err := json.Unmarshal(m.Content, &s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
