package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// selection is a drag with the left button over the transcript: its text
// (the transcript's only, never the sidebar's) is copied on release.
// Points are cells of the transcript's body: col from its left edge, row
// from its first row.
type selection struct {
	active           bool
	fromCol, fromRow int
	toCol, toRow     int
}

// ordered is the selection with its start before its end.
func (s selection) ordered() (c0, r0, c1, r1 int) {
	if s.toRow < s.fromRow || s.toRow == s.fromRow && s.toCol < s.fromCol {
		return s.toCol, s.toRow, s.fromCol, s.fromRow
	}
	return s.fromCol, s.fromRow, s.toCol, s.toRow
}

// bodyPoint is where screen cell (x, y) falls in the transcript's body,
// clamped to it; ok is false when the cell is outside it.
func (m *Model) bodyPoint(x, y int) (col, row int, ok bool) {
	x0 := 0
	if sw := m.sidebarWidth(); sw > 0 {
		x0 = sw + 1
	}
	col, row = x-x0, y-1 // the header is row 0
	ok = col >= 0 && row >= 0 && row < m.transcriptHeight() && m.mainWidth() > 0
	return max(0, min(col, m.mainWidth())), max(0, min(row, m.transcriptHeight()-1)), ok
}

// mouse handles the wheel (scrolling) and a left-button drag over the
// transcript (selecting; the text is copied on release).
func (m *Model) mouse(msg tea.MouseMsg) tea.Cmd {
	if m.overlay != overlayNone || m.tooSmall() {
		return nil
	}
	ev := msg.Mouse()
	switch msg.(type) {
	case tea.MouseWheelMsg:
		switch ev.Button {
		case tea.MouseWheelUp:
			m.scroll(3)
		case tea.MouseWheelDown:
			m.scroll(-3)
		}
	case tea.MouseClickMsg:
		m.sel = selection{}
		if col, row, ok := m.bodyPoint(ev.X, ev.Y); ok && ev.Button == tea.MouseLeft {
			m.sel = selection{active: true, fromCol: col, fromRow: row, toCol: col, toRow: row}
		}
	case tea.MouseMotionMsg:
		if m.sel.active {
			m.sel.toCol, m.sel.toRow, _ = m.bodyPoint(ev.X, ev.Y)
		}
	case tea.MouseReleaseMsg:
		if !m.sel.active {
			return nil
		}
		m.sel.toCol, m.sel.toRow, _ = m.bodyPoint(ev.X, ev.Y)
		text := m.selectedText()
		m.sel = selection{}
		if strings.TrimSpace(text) == "" {
			return nil // a click, not a drag
		}
		m.setNotice(fmt.Sprintf("Copied %d characters to the clipboard (OSC 52).", len([]rune(text))))
		return tea.SetClipboard(text)
	}
	return nil
}

// selectedText is the selection's text in the transcript as last drawn.
func (m *Model) selectedText() string {
	c0, r0, c1, r1 := m.sel.ordered()
	var out []string
	for r := r0; r <= r1 && r < len(m.body); r++ {
		line := ansi.Strip(m.body[r])
		from, to := 0, ansi.StringWidth(line)
		if r == r0 {
			from = c0
		}
		if r == r1 {
			to = min(to, c1+1)
		}
		out = append(out, strings.TrimRight(ansi.Cut(line, from, max(from, to)), " "))
	}
	return strings.Join(out, "\n")
}

// highlight shows the selection in the transcript's body lines.
func (m *Model) highlight(body []string) []string {
	if !m.sel.active {
		return body
	}
	c0, r0, c1, r1 := m.sel.ordered()
	for r := r0; r <= r1 && r < len(body); r++ {
		w := ansi.StringWidth(body[r])
		from, to := 0, w
		if r == r0 {
			from = min(c0, w)
		}
		if r == r1 {
			to = min(c1+1, w)
		}
		if to <= from {
			continue
		}
		l := body[r]
		body[r] = ansi.Cut(l, 0, from) + m.th.selected.Render(ansi.Strip(ansi.Cut(l, from, to))) + ansi.Cut(l, to, w)
	}
	return body
}
