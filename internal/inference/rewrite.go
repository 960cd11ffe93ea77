package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/janhq/jan/internal/rawjson"
)

var errNotObject = errors.New("request body is not a JSON object")

// SetModel sets the top-level "model" of a JSON object to model. Every
// other byte of body is kept as it was (field order, spacing, numbers,
// unknown fields), so requests pass through to providers untouched. Every
// top-level "model" key is replaced (JSON decoders keep the last of
// duplicates); when there is none, "model" is inserted as the first field.
// body is not modified; it is returned as it is when its one "model" is
// already model, written as AppendJSONString writes it.
func SetModel(body []byte, model string) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errors.New("request body is not valid JSON")
	}
	return setModel(body, model)
}

// setModel is SetModel on a body known to be valid JSON: jan's handlers
// decode every body they forward, so Post does not check it again (a pass
// over the whole request, history included, on every engine call). On
// other input it returns an error or a body the engine will refuse, never
// panics.
func setModel(body []byte, model string) ([]byte, error) {
	start := rawjson.SkipSpace(body, 0)
	if start >= len(body) || body[start] != '{' {
		return nil, errNotObject
	}
	value := AppendJSONString(nil, model)

	var spans [][2]int // value spans of top-level "model" keys
	i := rawjson.SkipSpace(body, start+1)
	for i < len(body) && body[i] == '"' {
		keyEnd := rawjson.SkipString(body, i)
		isModel := keyIs(body[i:keyEnd], "model")
		i = rawjson.SkipSpace(body, keyEnd)
		i = rawjson.SkipSpace(body, i+1) // ':'
		valEnd := rawjson.SkipValue(body, i)
		if isModel {
			spans = append(spans, [2]int{i, valEnd})
		}
		i = rawjson.SkipSpace(body, valEnd)
		if i < len(body) && body[i] == ',' {
			i = rawjson.SkipSpace(body, i+1)
		}
	}

	if len(spans) == 0 {
		out := make([]byte, 0, len(body)+len(value)+10)
		out = append(out, body[:start+1]...)
		out = append(out, `"model":`...)
		out = append(out, value...)
		if j := rawjson.SkipSpace(body, start+1); j < len(body) && body[j] != '}' {
			out = append(out, ',')
		}
		return append(out, body[start+1:]...), nil
	}
	if len(spans) == 1 && bytes.Equal(body[spans[0][0]:spans[0][1]], value) {
		return body, nil // already so: no copy
	}
	out := make([]byte, 0, len(body)+len(value))
	prev := 0
	for _, s := range spans {
		out = append(out, body[prev:s[0]]...)
		out = append(out, value...)
		prev = s[1]
	}
	return append(out, body[prev:]...), nil
}

// keyIs reports whether the quoted JSON string key decodes to name.
func keyIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
		return true
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == name
}

// RewriteModel replaces the first `"model":"from"` (spaces around the colon
// allowed) in a response body or SSE chunk with `"model":"to"`. It is a byte
// search, not a parse: cheap enough to run on every streamed chunk. It
// cannot match inside a JSON string, where quotes are escaped; engines put
// the top-level "model" before "choices", so the first match is the
// top-level one. body is returned unchanged (not copied) when from == to or
// nothing matches; otherwise a new slice is returned.
func RewriteModel(body []byte, from, to string) []byte {
	if from == to {
		return body
	}
	fromQ := AppendJSONString(make([]byte, 0, 64), from)
	const key = `"model"`
	for off := 0; ; {
		k := bytes.Index(body[off:], []byte(key))
		if k < 0 {
			return body
		}
		k += off
		i := rawjson.SkipSpace(body, k+len(key))
		if i < len(body) && body[i] == ':' {
			i = rawjson.SkipSpace(body, i+1)
			if bytes.HasPrefix(body[i:], fromQ) {
				out := make([]byte, 0, len(body)-len(fromQ)+len(to)+8)
				out = append(out, body[:i]...)
				out = AppendJSONString(out, to)
				return append(out, body[i+len(fromQ):]...)
			}
		}
		off = k + len(key)
	}
}

// AppendJSONString appends s as a JSON string, as encoding/json writes it
// with HTML escaping off (as engines write it): quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped. It runs once per streamed token, so it does not go through
// encoding/json.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}
