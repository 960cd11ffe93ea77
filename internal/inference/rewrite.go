package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

var errNotObject = errors.New("request body is not a JSON object")

// SetModel sets the top-level "model" of a JSON object to model. Every
// other byte of body is kept as it was (field order, spacing, numbers,
// unknown fields), so requests pass through to providers untouched. Every
// top-level "model" key is replaced (JSON decoders keep the last of
// duplicates); when there is none, "model" is inserted as the first field.
// body is not modified.
func SetModel(body []byte, model string) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errors.New("request body is not valid JSON")
	}
	start := skipSpace(body, 0)
	if start >= len(body) || body[start] != '{' {
		return nil, errNotObject
	}
	value := appendQuoted(nil, model)

	var spans [][2]int // value spans of top-level "model" keys
	i := skipSpace(body, start+1)
	for i < len(body) && body[i] == '"' {
		keyEnd := skipString(body, i)
		isModel := keyIs(body[i:keyEnd], "model")
		i = skipSpace(body, keyEnd)
		i = skipSpace(body, i+1) // ':'
		valEnd := skipValue(body, i)
		if isModel {
			spans = append(spans, [2]int{i, valEnd})
		}
		i = skipSpace(body, valEnd)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}

	if len(spans) == 0 {
		out := make([]byte, 0, len(body)+len(value)+10)
		out = append(out, body[:start+1]...)
		out = append(out, `"model":`...)
		out = append(out, value...)
		if body[skipSpace(body, start+1)] != '}' {
			out = append(out, ',')
		}
		return append(out, body[start+1:]...), nil
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

// The skip functions scan JSON that json.Valid has accepted, so they need
// no error handling; each returns the index just past what it skipped.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString skips the string starting at the quote b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
		}
		return i
	}
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
	fromQ := appendQuoted(make([]byte, 0, 64), from)
	const key = `"model"`
	for off := 0; ; {
		k := bytes.Index(body[off:], []byte(key))
		if k < 0 {
			return body
		}
		k += off
		i := skipSpace(body, k+len(key))
		if i < len(body) && body[i] == ':' {
			i = skipSpace(body, i+1)
			if bytes.HasPrefix(body[i:], fromQ) {
				out := make([]byte, 0, len(body)-len(fromQ)+len(to)+8)
				out = append(out, body[:i]...)
				out = appendQuoted(out, to)
				return append(out, body[i+len(fromQ):]...)
			}
		}
		off = k + len(key)
	}
}

// appendQuoted appends s as a JSON string the way engines write it: no
// HTML escaping, unlike json.Marshal.
func appendQuoted(dst []byte, s string) []byte {
	plain := utf8.ValidString(s)
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		plain = c >= 0x20 && c != '"' && c != '\\' && c != 0xE2 // 0xE2: maybe U+2028/9
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
