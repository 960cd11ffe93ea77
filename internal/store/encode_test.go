package store

import (
	"encoding/json"
	"testing"
)

func TestUsageArg(t *testing.T) {
	if got := usageArg(nil); got != nil {
		t.Errorf("usageArg(nil) = %v, want nil", got)
	}
	for _, u := range []Usage{{}, {12, 8, 20}, {-1, 1 << 40, 0}} {
		want, _ := json.Marshal(&u)
		if got := usageArg(&u); got != string(want) {
			t.Errorf("usageArg(%+v) = %v, want %s", u, got, want)
		}
	}
}

func TestUsageCol(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *Usage
	}{
		{`{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}`, &Usage{12, 8, 20}},
		{`{"total_tokens": 20, "prompt_tokens": 12, "completion_tokens": 8}`, &Usage{12, 8, 20}}, // Postgres jsonb
		{` { "prompt_tokens" : -3 } `, &Usage{PromptTokens: -3}},
		{`{}`, &Usage{}},
		{`{"prompt_tokens":1,"extra":{"a":[1]},"total_tokens":2}`, &Usage{PromptTokens: 1, TotalTokens: 2}}, // via encoding/json
		{`{"prompt\u005ftokens":5}`, &Usage{PromptTokens: 5}},                                               // via encoding/json
	} {
		for _, src := range []any{tc.in, []byte(tc.in)} {
			var got *Usage
			if err := (usageCol{&got}).Scan(src); err != nil {
				t.Errorf("Scan(%T %s): %v", src, tc.in, err)
				continue
			}
			if got == nil || *got != *tc.want {
				t.Errorf("Scan(%T %s) = %+v, want %+v", src, tc.in, got, tc.want)
			}
		}
	}
	for _, bad := range []string{`{"prompt_tokens":1.5}`, `{"prompt_tokens":1`, `[1]`, `{"prompt_tokens":"1"}`, `{"total_tokens":1}x`} {
		var got *Usage
		if err := (usageCol{&got}).Scan(bad); err == nil {
			t.Errorf("Scan(%s) = %+v, want an error", bad, got)
		}
	}
	got := &Usage{1, 2, 3}
	if err := (usageCol{&got}).Scan(nil); err != nil || got != nil {
		t.Errorf("Scan(NULL) = %+v, %v; want nil", got, err)
	}
}
