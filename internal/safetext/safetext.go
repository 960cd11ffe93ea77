// Package safetext neutralises untrusted text (model output) before it
// reaches a terminal. A model can emit escape sequences that set the
// clipboard (OSC 52), retitle the window, move the cursor, clear the
// screen or hide text; none of that may reach the terminal. Whole
// sequences are dropped (ESC, CSI, OSC, DCS, SOS, PM, APC, in their 7-bit
// and 8-bit forms), as are the other C0 and C1 controls, DEL, carriage
// returns and the Unicode bidi overrides; newlines and tabs stay.
//
// A Sanitizer keeps its state between writes, so a sequence split across
// streamed chunks is dropped as a whole.
package safetext

import (
	"strings"
	"unicode/utf8"
)

type state uint8

const (
	normal state = iota
	escape       // after ESC
	csi          // ESC [ … final byte
	str          // OSC, DCS, SOS, PM, APC: until BEL or ST
	strEsc       // inside a string, after ESC (ST is ESC \)
)

// Sanitizer filters a stream of text. The zero value is ready.
type Sanitizer struct {
	st      state
	partial []byte // an incomplete UTF-8 sequence at the end of the last chunk
}

// Sanitize returns s with every control sequence removed.
func Sanitize(s string) string {
	var z Sanitizer
	return z.Write(s)
}

// Write filters the next chunk and returns what is safe to print.
func (z *Sanitizer) Write(chunk string) string {
	if len(z.partial) > 0 {
		chunk = string(z.partial) + chunk
		z.partial = z.partial[:0]
	}
	if z.st == normal && clean(chunk) {
		return chunk
	}
	var b strings.Builder
	b.Grow(len(chunk))
	for i := 0; i < len(chunk); {
		r, size := utf8.DecodeRuneInString(chunk[i:])
		if r == utf8.RuneError && size <= 1 && !utf8.FullRuneInString(chunk[i:]) {
			z.partial = append(z.partial, chunk[i:]...)
			break
		}
		i += size
		z.step(&b, r)
	}
	return b.String()
}

// clean reports whether s has nothing to filter (the common case). An
// invalid or incomplete UTF-8 sequence decodes as RuneError and takes the
// slow path.
func clean(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || isBidi(r) {
			return false
		}
	}
	return true
}

func isBidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

func (z *Sanitizer) step(b *strings.Builder, r rune) {
	switch z.st {
	case escape:
		switch r {
		case '[':
			z.st = csi
		case ']', 'P', 'X', '^', '_':
			z.st = str
		default:
			// A two-byte sequence (ESC 7, ESC c, ESC ( B …): drop it. An
			// intermediate byte (0x20–0x2f) keeps us in the sequence.
			if r >= 0x20 && r <= 0x2f {
				return
			}
			z.st = normal
		}
	case csi:
		if r >= 0x40 && r <= 0x7e {
			z.st = normal
		} else if r < 0x20 || r > 0x7e {
			z.st = normal // malformed: stop swallowing text
			z.step(b, r)
		}
	case str:
		switch r {
		case 0x07, 0x9c:
			z.st = normal
		case 0x1b:
			z.st = strEsc
		}
	case strEsc:
		if r == '\\' {
			z.st = normal
		} else {
			z.st = str
		}
	default:
		switch {
		case r == 0x1b:
			z.st = escape
		case r == 0x9b:
			z.st = csi
		case r == 0x9d || r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f:
			z.st = str
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f && r <= 0x9f || isBidi(r):
			// dropped
		case r == utf8.RuneError:
			b.WriteRune(r) // invalid bytes print as U+FFFD, harmlessly
		default:
			b.WriteRune(r)
		}
	}
}

// Title makes a conversation title from a prompt: its first line,
// sanitized, spaces collapsed, at most 60 characters.
func Title(prompt string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(prompt), "\n")
	line = strings.Join(strings.Fields(Sanitize(line)), " ")
	if r := []rune(line); len(r) > 60 {
		line = strings.TrimSpace(string(r[:59])) + "…"
	}
	return line
}
