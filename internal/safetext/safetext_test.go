package safetext

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Hello, **world**\n\tcode", "Hello, **world**\n\tcode"},
		{"unicode", "héllo 世界 🙂", "héllo 世界 🙂"},
		{"osc52 clipboard BEL", "a\x1b]52;c;ZXZpbA==\x07b", "ab"},
		{"osc52 clipboard ST", "a\x1b]52;c;ZXZpbA==\x1b\\b", "ab"},
		{"window title", "\x1b]0;pwned\x07ok", "ok"},
		{"cursor movement", "x\x1b[2J\x1b[H\x1b[10;20Hy\x1b[1A", "xy"},
		{"colour", "\x1b[31mred\x1b[0m", "red"},
		{"8-bit CSI and OSC", "a\u009b2Jb\u009d52;c;x\u009cc", "abc"},
		{"DCS", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"two-byte escapes", "a\x1bcb\x1b7c\x1b(Bd", "abcd"},
		{"carriage return overwrite", "rm -rf /\rls", "rm -rf /ls"},
		{"C0 controls", "a\x00b\x07c\x08d\x7fe", "abcde"},
		{"bidi override", "abc\u202edcba\u202c", "abcdcba"},
		{"unterminated OSC swallows the rest", "a\x1b]52;c;AAAA", "a"},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("%s: Sanitize(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// A sequence split across streamed chunks is still dropped whole, and a
// multi-byte character split across chunks survives.
func TestSanitizerAcrossChunks(t *testing.T) {
	t.Parallel()
	in := "Hello \x1b]52;c;ZXZpbA==\x07wörld \x1b[2J\x1b[1;1Hdone 🙂"
	want := "Hello wörld done 🙂"
	for size := 1; size <= len(in); size++ {
		var z Sanitizer
		var b strings.Builder
		for i := 0; i < len(in); i += size {
			b.WriteString(z.Write(in[i:min(i+size, len(in))]))
		}
		if b.String() != want {
			t.Fatalf("chunks of %d: %q, want %q", size, b.String(), want)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("\x1b]52;c;x\x07\x1b[2J hi")
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		for _, r := range out {
			if r == 0x1b || r == 0x9b || r == 0x9d || r == '\r' || r < 0x20 && r != '\n' && r != '\t' {
				t.Fatalf("Sanitize(%q) kept %U", s, r)
			}
		}
	})
}

func TestTitle(t *testing.T) {
	for in, want := range map[string]string{
		"  Tell me a joke\nabout cats":  "Tell me a joke",
		"two   spaces\tand a tab":       "two spaces and a tab",
		"evil \x1b[31mred\x1b[0m title": "evil red title",
		strings.Repeat("é", 70):         strings.Repeat("é", 59) + "…",
		"":                              "",
	} {
		if got := Title(in); got != want {
			t.Errorf("Title(%q) = %q, want %q", in, got, want)
		}
	}
}
