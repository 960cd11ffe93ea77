package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// listFilter is a filtered list in an overlay (the model picker, the
// command palette): the text typed and the cursor over the matches.
type listFilter struct {
	filter string
	cursor int
}

// key moves the cursor over n matches (↑/↓) or edits the filter (typing,
// backspace), and reports whether it took the key; backspace on an empty
// filter it does not take.
func (f *listFilter) key(k tea.KeyPressMsg, n int) bool {
	switch k.String() {
	case "up":
		f.cursor = max(0, f.cursor-1)
	case "down":
		f.cursor = min(n-1, f.cursor+1)
	case "backspace":
		r := []rune(f.filter)
		if len(r) == 0 {
			return false
		}
		f.filter, f.cursor = string(r[:len(r)-1]), 0
	default:
		if k.Text == "" || k.Mod&(tea.ModCtrl|tea.ModAlt) != 0 {
			return false
		}
		f.filter, f.cursor = f.filter+k.Text, 0
	}
	return true
}

// helpLines are the help overlay's lines: every binding of the keymap and
// the input's editing keys, by section.
func (m *Model) helpLines(w int) []string {
	sections := m.keys.helpSections(m.input.KeyMap)
	kw := 0
	for _, sec := range sections {
		for _, b := range sec.bindings {
			kw = max(kw, ansi.StringWidth(b.Help().Key))
		}
	}
	var lines []string
	for i, sec := range sections {
		if i > 0 {
			lines = append(lines, "")
		}
		if sec.title != "" {
			lines = append(lines, m.th.accent.Render(sec.title))
		}
		for _, b := range sec.bindings {
			h := b.Help()
			line := fmt.Sprintf("  %-*s  %s", kw, h.Key, m.th.dim.Render(h.Desc))
			lines = append(lines, ansi.Truncate(line, max(10, w-4), "…"))
		}
	}
	return lines
}

// helpView is the help overlay: as many lines as fit h rows, from helpTop;
// ↑/↓ scroll it when it does not fit.
func (m *Model) helpView(w, h int) string {
	lines := m.helpLines(w)
	room := max(1, h-3) // the title and the box's border
	m.helpTop = max(0, min(m.helpTop, len(lines)-room))
	title := m.th.title.Render("Keys")
	if len(lines) > room {
		title += m.th.dim.Render(fmt.Sprintf("  ↑/↓ scroll · %d–%d of %d", m.helpTop+1, m.helpTop+room, len(lines)))
		lines = lines[m.helpTop : m.helpTop+room]
	}
	return m.th.overlay.Render(title + "\n" + strings.Join(lines, "\n"))
}

// helpKey scrolls the help (↑/↓, pgup/pgdn); any other key closes it.
func (m *Model) helpKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "up":
		m.helpTop = max(0, m.helpTop-1)
	case "down":
		m.helpTop++
	case "pgup":
		m.helpTop = max(0, m.helpTop-(m.transcriptHeight()-4))
	case "pgdown":
		m.helpTop += m.transcriptHeight() - 4
	default:
		m.overlay = overlayNone
	}
	return nil
}

func (m *Model) pickerView(w int) string {
	var b strings.Builder
	b.WriteString(m.th.title.Render("Model") + "  " + m.th.dim.Render("↑/↓ enter · esc") + "\n")
	if m.picker.filter != "" {
		b.WriteString(m.th.accent.Render("/ ") + m.picker.filter + "\n")
	}
	list := m.pickerModels()
	switch {
	case m.models == nil && m.modelErr != nil:
		b.WriteString(m.th.failNote.Render("Could not load the models: "+m.modelErr.Error()) + "\n" + m.th.dim.Render("ctrl+r to retry"))
	case m.models == nil:
		b.WriteString(m.th.dim.Render("Loading…"))
	case len(m.models) == 0:
		b.WriteString(m.th.dim.Render("This server serves no models yet."))
	case len(list) == 0:
		b.WriteString(m.th.dim.Render("No model matches."))
	}
	cur, _ := m.currentModel()
	inner := max(10, min(w-6, 60))
	for i, md := range list {
		mark := "  "
		if md.ID == cur {
			mark = "✓ "
		}
		line := mark + md.ID
		if md.OwnedBy != "" {
			line += m.th.dim.Render("  " + md.OwnedBy)
		}
		line = ansi.Truncate(line, inner, "…")
		if i == m.picker.cursor {
			line = m.th.selected.Render(padRight(ansi.Strip(line), inner))
		}
		b.WriteString(line + "\n")
	}
	return m.th.overlay.Render(strings.TrimSuffix(b.String(), "\n"))
}

func (m *Model) confirmView(w int) string {
	title := ansi.Truncate(m.confirm.title, max(10, w-20), "…")
	body := m.th.title.Render("Delete “"+title+"”?") + "\n" +
		m.th.dim.Render("Its messages are deleted too; this cannot be undone.") + "\n\n" +
		m.th.accent.Render("y") + " delete   " + m.th.accent.Render("n") + " keep"
	return m.th.overlay.Render(body)
}
