package inference

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/janhq/jan/internal/rawjson"
)

// scan reads body into c as json.Unmarshal would, in one pass (rawjson):
// every non-streamed answer goes through ParseCompletion, and decoding it
// with encoding/json cost more than the rest of reading it. scan handles
// the answers engines send; given anything else — invalid JSON, a field of
// another type, a name that differs from a field's only in case, a
// repeated "choices" — it reports false and the caller decodes with
// encoding/json, so that what is accepted, and every error, stays
// encoding/json's (TestParseCompletionAsDecoded).
func (c *completion) scan(body []byte) bool {
	if !json.Valid(body) {
		return false
	}
	ok, choices := true, false
	isObject := rawjson.Object(body, func(name, v []byte) bool {
		switch string(name) {
		case "object":
			ok = scanString(v, &c.Object)
		case "choices":
			if choices || v[0] != '[' {
				ok = false
				break
			}
			choices = true
			c.Choices = []completionChoice{}
			rawjson.Array(v, func(e []byte) bool {
				var ch completionChoice
				ok = ch.scan(e)
				c.Choices = append(c.Choices, ch)
				return ok
			})
		case "usage":
			ok = scanUsage(v, &c.Usage)
		case "error":
			c.Error = json.RawMessage(v)
		default:
			ok = !foldsTo(name, "object", "choices", "usage", "error")
		}
		return ok
	})
	return isObject && ok
}

func (ch *completionChoice) scan(v []byte) bool {
	ok := true
	return rawjson.Object(v, func(name, v []byte) bool {
		switch string(name) {
		case "index":
			ok = scanInt(v, &ch.Index)
		case "message":
			if rawjson.IsNull(v) {
				break
			}
			ok = rawjson.Object(v, func(name, v []byte) bool {
				switch {
				case string(name) == "content":
					ok = scanString(v, &ch.Message.Content)
				case foldsTo(name, "content"):
					ok = false
				}
				return ok
			}) && ok
		case "text":
			ok = scanString(v, &ch.Text)
		case "finish_reason":
			if rawjson.IsNull(v) {
				ch.FinishReason = nil
				break
			}
			var s string
			if ok = scanString(v, &s); ok {
				ch.FinishReason = &s
			}
		default:
			ok = !foldsTo(name, "index", "message", "text", "finish_reason")
		}
		return ok
	}) && ok
}

func scanUsage(v []byte, u **Usage) bool {
	if rawjson.IsNull(v) {
		*u = nil
		return true
	}
	if *u == nil {
		*u = new(Usage)
	}
	ok := true
	return rawjson.Object(v, func(name, v []byte) bool {
		switch string(name) {
		case "prompt_tokens":
			ok = scanInt(v, &(*u).PromptTokens)
		case "completion_tokens":
			ok = scanInt(v, &(*u).CompletionTokens)
		case "total_tokens":
			ok = scanInt(v, &(*u).TotalTokens)
		default:
			ok = !foldsTo(name, "prompt_tokens", "completion_tokens", "total_tokens")
		}
		return ok
	}) && ok
}

// scanString sets *dst from a JSON string; null leaves it, as json.Unmarshal
// does.
func scanString(v []byte, dst *string) bool {
	if rawjson.IsNull(v) {
		return true
	}
	s, ok := rawjson.String(v)
	if ok {
		*dst = s
	}
	return ok
}

// scanInt sets *dst from a JSON integer as json.Unmarshal does; null leaves
// it.
func scanInt(v []byte, dst *int) bool {
	if rawjson.IsNull(v) {
		return true
	}
	n, err := strconv.ParseInt(string(v), 10, strconv.IntSize)
	if err == nil {
		*dst = int(n)
	}
	return err == nil
}

// foldsTo reports whether name is one of fields but for case, which
// json.Unmarshal would take for that field.
func foldsTo(name []byte, fields ...string) bool {
	for _, f := range fields {
		if bytes.EqualFold(name, []byte(f)) {
			return true
		}
	}
	return false
}
