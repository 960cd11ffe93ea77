package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

// command is one entry of the command palette ("/" on an empty input).
type command struct {
	name, what string
	run        func(m *Model) tea.Cmd
}

var commands = []command{
	{"new", "start a new conversation", func(m *Model) tea.Cmd { return m.startNewConversation() }},
	{"model", "pick the model for this conversation", func(m *Model) tea.Cmd { m.openPicker(); return nil }},
	{"regenerate", "answer the last prompt again (replaces the answer)", func(m *Model) tea.Cmd { return m.again() }},
	{"edit", "edit the last prompt and resend it (replaces it)", func(m *Model) tea.Cmd { return m.editLast() }},
	{"rename", "rename this conversation", func(m *Model) tea.Cmd { return m.renameCurrent() }},
	{"delete", "delete this conversation (asks first)", func(m *Model) tea.Cmd { m.confirmDelete(); return nil }},
	{"copy", "copy the last answer (OSC 52)", func(m *Model) tea.Cmd { return m.copy(m.tr.lastAnswer(), "the last answer") }},
	{"export", "save this conversation as Markdown (here)", func(m *Model) tea.Cmd { return m.export() }},
	{"help", "every key", func(m *Model) tea.Cmd { m.overlay, m.helpTop = overlayHelp, 0; return nil }},
	{"quit", "leave jan chat", func(m *Model) tea.Cmd { return tea.Quit }},
}

func (m *Model) openPalette() {
	m.overlay = overlayPalette
	m.palette = listFilter{}
}

// paletteCommands are the commands whose name starts with the filter
// (then those that contain it).
func (m *Model) paletteCommands() []command {
	f := strings.ToLower(m.palette.filter)
	var first, then []command
	for _, c := range commands {
		switch {
		case strings.HasPrefix(c.name, f):
			first = append(first, c)
		case strings.Contains(c.name, f):
			then = append(then, c)
		}
	}
	return append(first, then...)
}

func (m *Model) paletteKey(k tea.KeyPressMsg) tea.Cmd {
	list := m.paletteCommands()
	switch k.String() {
	case "esc":
		m.overlay = overlayNone
	case "enter", "tab":
		m.overlay = overlayNone
		if m.palette.cursor >= 0 && m.palette.cursor < len(list) {
			return list[m.palette.cursor].run(m)
		}
	default:
		if !m.palette.key(k, len(list)) && k.String() == "backspace" {
			m.overlay = overlayNone // backspace over the "/"
		}
	}
	return nil
}

func (m *Model) paletteView(w int) string {
	var b strings.Builder
	b.WriteString(m.th.title.Render("/"+m.palette.filter) + m.th.dim.Render("▏  ↑/↓ enter · esc") + "\n")
	list := m.paletteCommands()
	if len(list) == 0 {
		b.WriteString(m.th.dim.Render("No command matches."))
	}
	inner := max(10, min(w-6, 64))
	for i, c := range list {
		line := ansi.Truncate(fmt.Sprintf("/%-11s %s", c.name, m.th.dim.Render(c.what)), inner, "…")
		if i == m.palette.cursor {
			line = m.th.selected.Render(padRight(ansi.Strip(line), inner))
		}
		b.WriteString(line + "\n")
	}
	return m.th.overlay.Render(strings.TrimSuffix(b.String(), "\n"))
}

// renameCurrent starts renaming the open conversation in the sidebar.
func (m *Model) renameCurrent() tea.Cmd {
	if m.conv == nil {
		m.setNotice("This conversation has no title yet: it gets one with its first message.")
		return nil
	}
	m.side.filter = ""
	m.side.selectID(m.conv.ID)
	m.focus = focusSidebar
	m.input.Blur()
	return m.startRename()
}

// confirmDelete asks before deleting the open conversation.
func (m *Model) confirmDelete() {
	if m.conv == nil {
		m.setNotice("Nothing to delete: this conversation is not stored yet.")
		return
	}
	m.confirm.id, m.confirm.title = m.conv.ID, titleOrUntitled(m.conv.Title)
	m.overlay = overlayConfirm
}

type exportedMsg struct {
	path string
	err  error
}

// export saves the open conversation, as stored on the server, to a
// Markdown file named after its title in the working directory.
func (m *Model) export() tea.Cmd {
	if m.conv == nil {
		m.setNotice("Nothing to export yet.")
		return nil
	}
	api, conv, dir := m.opts.Client, *m.conv, m.opts.ExportDir
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		msgs, err := api.AllMessages(ctx, conv.ID)
		if err != nil {
			return exportedMsg{err: err}
		}
		path, err := freeName(filepath.Join(dir, fileName(conv.Title, conv.ID)+".md"))
		if err != nil {
			return exportedMsg{err: err}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) // never over a file
		if err != nil {
			return exportedMsg{err: err}
		}
		_, err = f.WriteString(client.ExportMarkdown(&conv, msgs, safetext.Sanitize))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return exportedMsg{path: path, err: err}
	}
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// fileName is a title as a file name: lower case letters and digits joined
// by dashes, at most 60 bytes; the conversation id when nothing is left.
func fileName(title, id string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(s) > 60 {
		s = strings.TrimRight(s[:60], "-")
	}
	if s == "" {
		return id
	}
	return s
}

// freeName is name, or name-2, name-3…, whichever does not exist yet.
func freeName(name string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; i < 1000; i++ {
		p := name
		if i > 1 {
			p = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free file name for %s", name)
}
