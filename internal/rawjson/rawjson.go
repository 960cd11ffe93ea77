// Package rawjson walks JSON text that is already known to be valid (by
// json.Valid): the members of an object and the elements of an array, as
// raw values, in one pass over the bytes and without decoding them. It is
// for hot paths that need a few fields of a request or an engine's answer
// and pass the rest on untouched; encoding/json, which checks the whole
// text before decoding it and decodes through reflection, costs several
// times as much there.
//
// Given text that is not valid JSON, these functions do not panic, but
// what they report is unspecified: validate first. The Skip functions are
// the steps they take, for walkers of their own (internal/inference's,
// which check as they go).
package rawjson

import (
	"encoding/json"
	"unicode/utf8"
)

// Object calls fn with each member of the object b (leading and trailing
// space allowed) in order: the name, decoded as encoding/json decodes it,
// and the raw value. A name is a new slice only when it had escapes or
// invalid UTF-8; otherwise it points into b, as values always do. Object
// stops early when fn returns false. It reports false when b is not an
// object.
func Object(b []byte, fn func(name, value []byte) bool) bool {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = SkipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		end := SkipString(b, i)
		name := b[i+1 : max(end-1, i+1)]
		if hasEscape(name) || !utf8.Valid(name) {
			var s string
			if json.Unmarshal(b[i:end], &s) == nil {
				name = []byte(s)
			}
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return true
		}
		i = SkipSpace(b, i+1)
		vend := SkipValue(b, i)
		if !fn(name, b[i:vend]) {
			return true
		}
		i = SkipSpace(b, vend)
		if i < len(b) && b[i] == ',' {
			i = SkipSpace(b, i+1)
		}
	}
	return true
}

// Array calls fn with each element of the array b, raw, in order, and
// stops early when fn returns false. It reports false when b is not an
// array.
func Array(b []byte, fn func(value []byte) bool) bool {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return false
	}
	i = SkipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		end := SkipValue(b, i)
		if end == i || !fn(b[i:end]) {
			return true
		}
		i = SkipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = SkipSpace(b, i+1)
		}
	}
	return true
}

// String decodes the raw JSON string v as encoding/json does (escapes
// resolved, invalid UTF-8 replaced with U+FFFD); ok is false when v is not
// a string.
func String(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	if !hasEscape(body) && utf8.Valid(body) {
		return string(body), true
	}
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// IsNull reports whether the raw value v is the literal null.
func IsNull(v []byte) bool { return string(v) == "null" }

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space (len(b) if none; i past the end is taken as the end).
func SkipSpace(b []byte, i int) int {
	i = min(i, len(b))
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipString returns the index just past the string starting at the quote
// b[i] (len(b) if it does not end).
func SkipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// SkipValue returns the index just past the value starting at b[i], by
// its quotes and brackets (len(b) if it does not end): it does not check
// the value, and never reads past b.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = SkipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
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
