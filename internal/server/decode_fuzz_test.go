package server

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseChatRequest: any body either parses into a request with a model
// and messages, or is rejected with a 4xx apiError — never a panic.
func FuzzParseChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","conversation":"conv_1","store":false,"messages":[{"role":"system","content":null}]}`,
		`{"model":5}`, `{"messages":[]}`, `[]`, `{`, `null`, `{"model":"m","messages":[1]}`,
		`{"model":"m","messages":[{"role":"x"}]}`, `{"model":"m","messages":[{}],"stream":"no"}`,
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, streamQuery bool) {
		req, err := parseChatRequest(b, streamQuery)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Message == "" {
				t.Fatalf("error %v is not a 4xx apiError", err)
			}
			return
		}
		if req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("accepted %q without model or messages", b)
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}
