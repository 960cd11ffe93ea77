package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// keyHelp is every key, as the help overlay shows it.
var keyHelp = []struct{ group, keys, what string }{
	{"Input", "enter", "send"},
	{"", "shift+enter · ctrl+j", "new line"},
	{"", "↑ / ↓", "recall earlier prompts (empty input)"},
	{"", "esc", "stop the answer (keeps what came)"},
	{"", "ctrl+r", "retry after an error"},
	{"Chat", "ctrl+n", "new conversation"},
	{"", "ctrl+l", "pick the model"},
	{"", "pgup / pgdn", "scroll the transcript"},
	{"", "ctrl+y", "copy the last answer (OSC 52)"},
	{"", "alt+y", "copy its last code block"},
	{"Sidebar", "tab", "switch between input and sidebar"},
	{"", "type", "filter conversations"},
	{"", "↑ / ↓ · enter", "choose · open"},
	{"", "ctrl+r · f2", "rename"},
	{"", "ctrl+d · delete", "delete (asks first)"},
	{"", "?  · f1", "this help (any key closes)"},
	{"", "ctrl+c", "quit"},
}

func (m *Model) helpView(w int) string {
	var b strings.Builder
	b.WriteString(m.th.title.Render("Keys") + "\n")
	kw := 0
	for _, k := range keyHelp {
		kw = max(kw, ansi.StringWidth(k.keys))
	}
	for _, k := range keyHelp {
		if k.group != "" {
			b.WriteString("\n" + m.th.accent.Render(k.group) + "\n")
		}
		line := fmt.Sprintf("  %-*s  %s", kw, k.keys, m.th.dim.Render(k.what))
		b.WriteString(ansi.Truncate(line, max(10, w-4), "…") + "\n")
	}
	return m.th.overlay.Render(strings.TrimSuffix(b.String(), "\n"))
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
