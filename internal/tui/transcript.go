package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
	"github.com/janhq/jan/internal/third_party/glamour"
)

// entry is one message of the transcript. Its text is already sanitised.
type entry struct {
	id     string
	role   string
	text   string
	model  string
	note   string // "stopped", a failure, a cut stream: shown under the text
	failed bool
	// A cut answer whose run goes on on the server: picked up after the
	// first after bytes (an event id) of run runID.
	runID, after string

	// The rendering, cached for one width: finished messages are rendered
	// once per width.
	width int
	lines []string
}

func entryOf(m client.Message) *entry {
	e := &entry{id: m.ID, role: m.Role, text: safetext.Sanitize(m.Content), model: safetext.Sanitize(m.Model)}
	if m.Role == client.RoleAssistant && m.Status == client.StatusIncomplete {
		e.note = "⏹ Incomplete answer (stopped, or cut short)."
	}
	return e
}

// live is the answer being streamed. Its text is split at the last
// paragraph break outside a code fence: the stable head is rendered once
// (cached by its length), only the growing tail is re-rendered.
type live struct {
	text      strings.Builder
	san       safetext.Sanitizer
	model     string
	headLen   int // bytes of text rendered into headLines
	headWidth int
	headLines []string
	dirty     bool
	lines     []string // head + tail, as last rendered
	width     int
}

func (l *live) add(raw string) {
	if s := l.san.Write(raw); s != "" {
		l.text.WriteString(s)
		l.dirty = true
	}
}

// transcript is the conversation panel: rendered entries, the live
// answer, and a scroll position counted in lines from the bottom.
type transcript struct {
	entries []*entry
	live    *live
	offset  int // lines scrolled up from the bottom; 0 follows the end

	style    string // glamour style
	renderer *glamour.TermRenderer
	rWidth   int
	rStyle   string
	th       *theme
}

// empty reports whether there is nothing to show.
func (t *transcript) empty() bool { return len(t.entries) == 0 && t.live == nil }

// show replaces the entries with a conversation's messages, at the end.
func (t *transcript) show(msgs []client.Message) {
	t.entries = t.entries[:0]
	for _, msg := range msgs {
		t.entries = append(t.entries, entryOf(msg))
	}
	t.offset = 0
}

// clear empties the transcript (a new conversation).
func (t *transcript) clear() { t.entries, t.offset = nil, 0 }

// add appends an entry.
func (t *transcript) add(e *entry) { t.entries = append(t.entries, e) }

// back is the entry i places from the end (0: the last); nil past the
// start.
func (t *transcript) back(i int) *entry {
	if n := len(t.entries); i < n {
		return t.entries[n-1-i]
	}
	return nil
}

// dropLast removes the last entry.
func (t *transcript) dropLast() {
	if n := len(t.entries); n > 0 {
		t.entries = t.entries[:n-1]
	}
}

// lastIsUser reports whether the last entry is the user's.
func (t *transcript) lastIsUser() bool {
	e := t.back(0)
	return e != nil && e.role == client.RoleUser
}

// noteLastUser sets the note under the last entry when it is the user's.
func (t *transcript) noteLastUser(note string) {
	if e := t.back(0); e != nil && e.role == client.RoleUser && e.note != note {
		e.note, e.lines = note, nil
	}
}

// markdown renders text for the current width; it never fails (plain
// text is the fallback).
func (t *transcript) markdown(text string, width int) []string {
	if t.renderer == nil || t.rWidth != width || t.rStyle != t.style {
		r, err := glamour.NewTermRenderer(glamour.WithStandardStyle(t.style), glamour.WithWordWrap(width),
			glamour.WithPreservedNewLines(), glamour.WithChromaFormatter("terminal256"))
		if err == nil {
			t.renderer, t.rWidth, t.rStyle = r, width, t.style
		} else {
			t.renderer = nil
		}
	}
	var out string
	if t.renderer != nil {
		if s, err := t.renderer.Render(text); err == nil {
			out = s
		}
	}
	if out == "" {
		out = ansi.Wrap(text, width, " ")
	}
	return trimBlank(strings.Split(out, "\n"))
}

// trimBlank drops blank lines at both ends and trailing padding.
func trimBlank(lines []string) []string {
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	blank := func(s string) bool { return strings.TrimSpace(ansi.Strip(s)) == "" }
	for len(lines) > 0 && blank(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 0 && blank(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// render returns an entry's lines for width, from the cache when it can.
func (t *transcript) render(e *entry, width int) []string {
	if e.width == width && e.lines != nil {
		return e.lines
	}
	var lines []string
	switch e.role {
	case client.RoleUser:
		lines = append(lines, t.th.you.Render("You"))
		for _, l := range strings.Split(ansi.Wrap(e.text, width-2, " "), "\n") {
			lines = append(lines, t.th.dim.Render("│ ")+t.th.userText.Render(l))
		}
	case client.RoleAssistant:
		lines = append(lines, t.label(e.model))
		lines = append(lines, t.markdown(e.text, width)...)
	default:
		lines = append(lines, t.th.dim.Render(e.role))
		lines = append(lines, strings.Split(ansi.Wrap(e.text, width, " "), "\n")...)
	}
	if e.note != "" {
		st := t.th.note
		if e.failed {
			st = t.th.failNote
		}
		lines = append(lines, st.Render(ansi.Truncate(e.note, width, "…")))
	}
	e.width, e.lines = width, lines
	return lines
}

func (t *transcript) label(model string) string {
	s := t.th.bot.Render("jan")
	if model != "" {
		s += t.th.dim.Render(" · " + model)
	}
	return s
}

// renderLive renders the streaming answer: the head from its cache, the
// tail afresh.
func (t *transcript) renderLive(width int) []string {
	l := t.live
	if !l.dirty && l.width == width && l.lines != nil {
		return l.lines
	}
	text := l.text.String()
	cut := stableCut(text)
	if l.headWidth != width || cut < l.headLen {
		l.headLen, l.headLines = 0, nil
	}
	if cut > l.headLen {
		l.headLines = t.markdown(text[:cut], width)
		l.headLen, l.headWidth = cut, width
	}
	lines := []string{t.label(l.model)}
	lines = append(lines, l.headLines...)
	if tail := strings.TrimSpace(text[l.headLen:]); tail != "" {
		if len(l.headLines) > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, t.markdown(tail, width)...)
	}
	lines = append(lines, t.th.dim.Render("▍"))
	l.lines, l.width, l.dirty = lines, width, false
	return lines
}

// stableCut is the end of the last paragraph that no later token can
// change: the last blank line outside a code fence.
func stableCut(text string) int {
	cut, inFence := 0, false
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		line := text[i : i+j]
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			inFence = !inFence
		}
		i += j + 1
		if !inFence && strings.TrimSpace(line) == "" {
			cut = i
		}
	}
	return cut
}

// fromEnd renders the live answer and the entries from the last back
// until they make need lines (a blank line between messages), or all of
// them (all). Newest block first.
func (t *transcript) fromEnd(width, need int) (blocks [][]string, total int, all bool) {
	if t.live != nil {
		blocks = append(blocks, t.renderLive(width))
		total = len(blocks[0])
	}
	i := len(t.entries) - 1
	for ; i >= 0 && total < need; i-- {
		b := t.render(t.entries[i], width)
		if len(blocks) > 0 {
			total++ // the blank line between messages
		}
		blocks = append(blocks, b)
		total += len(b)
	}
	return blocks, total, i < 0
}

// view returns the height lines to show, rendering only the entries the
// window reaches: opening a long conversation renders its last screen.
func (t *transcript) view(width, height int) []string {
	blocks, total, all := t.fromEnd(width, height+t.offset)
	if all {
		t.offset = min(t.offset, max(0, total-height)) // the text got shorter
	}
	lines := make([]string, 0, total)
	for k := len(blocks) - 1; k >= 0; k-- {
		lines = append(lines, blocks[k]...)
		if k > 0 {
			lines = append(lines, "")
		}
	}
	end := len(lines) - t.offset
	start := max(0, end-height)
	out := lines[start:max(start, end)]
	for len(out) < height {
		out = append(out, "")
	}
	return out
}

// scroll moves the view delta lines up (down when negative), no further
// than the first line at the top or the last at the bottom.
func (t *transcript) scroll(delta, width, height int) {
	t.offset = max(0, t.offset+delta)
	if delta > 0 {
		if _, total, all := t.fromEnd(width, height+t.offset); all {
			t.offset = min(t.offset, max(0, total-height))
		}
	}
}

// lastAnswer is the text of the last assistant message.
func (t *transcript) lastAnswer() string {
	for i := len(t.entries) - 1; i >= 0; i-- {
		if t.entries[i].role == client.RoleAssistant {
			return t.entries[i].text
		}
	}
	return ""
}

// lastCodeBlock is the last fenced code block of the last answer.
func lastCodeBlock(md string) string {
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			if in {
				blocks = append(blocks, strings.Join(cur, "\n"))
				cur = nil
			}
			in = !in
			continue
		}
		if in {
			cur = append(cur, line)
		}
	}
	if len(blocks) == 0 {
		return ""
	}
	return blocks[len(blocks)-1]
}

// invalidate drops every cached rendering (a new theme).
func (t *transcript) invalidate() {
	for _, e := range t.entries {
		e.lines = nil
	}
	if t.live != nil {
		t.live.headLen, t.live.headLines, t.live.dirty = 0, nil, true
	}
	t.renderer = nil
}
