package ansi

import (
	"html"
	"strings"
)

// RenderContext holds the current rendering options and state.
type RenderContext struct {
	options Options

	blockStack *BlockStack
	table      *TableElement
}

// NewRenderContext returns a new RenderContext.
func NewRenderContext(options Options) RenderContext {
	return RenderContext{
		options:    options,
		blockStack: &BlockStack{},
		table:      &TableElement{},
	}
}

// SanitizeHTML sanitizes HTML content.
func (ctx RenderContext) SanitizeHTML(s string, trimSpaces bool) string {
	s = stripTags(s)
	if trimSpaces {
		s = strings.TrimSpace(s)
	}

	return html.UnescapeString(s)
}

// stripTags removes HTML tags, comments and the content of the elements
// whose content is not text (script, style and the like), keeping the rest
// of the text: what bluemonday's StrictPolicy did here, without that
// package's start-up cost (jan: docs/BENCHMARKS.md, issue 17). A "<" that
// starts no tag ("a < b") is text.
func stripTags(s string) string {
	var b strings.Builder
	skip := "" // the element whose content is being dropped
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			if skip == "" {
				b.WriteString(s)
			}
			break
		}
		if skip == "" {
			b.WriteString(s[:i])
		}
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s[4:], "-->")
			if end < 0 {
				break
			}
			s = s[4+end+3:]
			continue
		}
		if len(s) < 2 || !(isLetter(s[1]) || s[1] == '/' || s[1] == '!' || s[1] == '?') {
			if skip == "" {
				b.WriteByte('<')
			}
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			break // an unclosed tag: drop it
		}
		tag, closing := s[1:end], false
		if strings.HasPrefix(tag, "/") {
			tag, closing = tag[1:], true
		}
		name := tag
		if j := strings.IndexAny(name, " \t\r\n/"); j >= 0 {
			name = name[:j]
		}
		name = strings.ToLower(name)
		switch {
		case skip != "" && closing && name == skip:
			skip = ""
		case skip == "" && !closing && skipsContent(name):
			skip = name
		}
		s = s[end+1:]
	}
	return b.String()
}

// skipsContent reports whether the element's content is not shown
// (bluemonday's list).
func skipsContent(name string) bool {
	switch name {
	case "frame", "frameset", "iframe", "noembed", "noframes", "noscript", "nostyle", "object", "script", "style", "title":
		return true
	}
	return false
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
