package tui

import (
	"strings"
	"time"

	kb "charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

// key handles a key press: the overlays and the rename field first, then
// the keys that work anywhere, then the focused panel's.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	if kb.Matches(k, m.keys.Quit) {
		return m.quit()
	}
	if m.tooSmall() {
		return nil
	}
	switch m.overlay {
	case overlayHelp:
		return m.helpKey(k)
	case overlayPicker:
		return m.pickerKey(k)
	case overlayPalette:
		return m.paletteKey(k)
	case overlayConfirm:
		switch k.String() {
		case "y", "Y":
			m.overlay = overlayNone
			return m.deleteConversation(m.confirm.id)
		case "n", "N", "esc", "q", "enter": // enter keeps: deleting takes a y
			m.overlay = overlayNone
		}
		return nil
	}
	if m.side.renaming {
		return m.renameKey(k)
	}
	emptyInput := m.focus == focusInput && m.input.Value() == ""
	switch {
	case kb.Matches(k, m.keys.Help) && (k.String() != "?" || emptyInput):
		m.overlay, m.helpTop = overlayHelp, 0
	case kb.Matches(k, m.keys.Palette) && emptyInput:
		m.openPalette()
	case kb.Matches(k, m.keys.PickModel):
		m.openPicker()
	case kb.Matches(k, m.keys.NewChat):
		return m.startNewConversation()
	case kb.Matches(k, m.keys.Focus):
		if m.focus == focusInput {
			m.focus = focusSidebar
			m.input.Blur()
			return nil
		}
		m.focus = focusInput
		return m.input.Focus()
	case kb.Matches(k, m.keys.PageUp):
		m.scroll(m.transcriptHeight() - 2)
	case kb.Matches(k, m.keys.PageDown):
		m.scroll(-(m.transcriptHeight() - 2))
	case kb.Matches(k, m.keys.CopyAnswer):
		return m.copy(m.tr.lastAnswer(), "the last answer")
	case kb.Matches(k, m.keys.CopyCode):
		return m.copy(lastCodeBlock(m.tr.lastAnswer()), "the last code block")
	case kb.Matches(k, m.keys.Back):
		return m.back()
	case m.focus == focusSidebar:
		return m.sidebarKey(k)
	default:
		return m.inputKey(k)
	}
	return nil
}

// quit leaves the chat; a typed draft is cleared first (into the history,
// so ↑ brings it back), so one stray ctrl+c never throws it away.
func (m *Model) quit() tea.Cmd {
	if draft := m.input.Value(); strings.TrimSpace(draft) != "" && !m.tooSmall() {
		m.input.remember(draft)
		m.input.Reset()
		m.setNotice("Draft cleared: ↑ brings it back; ctrl+c again quits.")
		return nil
	}
	var cmd tea.Cmd
	if m.streaming && m.runID != "" {
		cmd = m.cancelRunWithin(m.streamConv, m.runID, 2*time.Second)
	}
	return tea.Sequence(cmd, tea.Quit)
}

// back is esc: one step back at a time — out of the sidebar, back to the
// end of the transcript, then (only at the end) stop the answer.
func (m *Model) back() tea.Cmd {
	switch {
	case m.focus == focusSidebar && m.side.filter != "":
		m.side.filter = ""
		m.side.clamp()
	case m.focus == focusSidebar:
		m.focus = focusInput
		return m.input.Focus()
	case m.tr.offset > 0:
		m.tr.offset = 0
	case m.streaming:
		return m.stopAnswer()
	case m.pend != nil && m.pend.queued:
		m.unqueue()
	case m.editing != nil:
		m.editing = nil
		m.input.Reset()
		m.setNotice("Edit cancelled: the prompt and its answer are kept.")
	case m.banner != "":
		m.clearBanner()
	}
	return nil
}

// scroll moves the transcript delta lines up (down when negative).
func (m *Model) scroll(delta int) {
	m.tr.scroll(delta, m.mainWidth(), m.transcriptHeight())
}

func (m *Model) startNewConversation() tea.Cmd {
	if m.streaming {
		m.setNotice(stillComing)
		return nil
	}
	m.newConversation()
	m.focus = focusInput
	return tea.Batch(m.input.Focus(), m.rememberConversation(""))
}

func (m *Model) copy(text, what string) tea.Cmd {
	if text == "" {
		m.setNotice("Nothing to copy yet.")
		return nil
	}
	m.setNotice("Copied " + what + " to the clipboard (OSC 52).")
	return tea.SetClipboard(text)
}

func (m *Model) inputKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case kb.Matches(k, m.keys.Send):
		return m.submit()
	case kb.Matches(k, m.keys.Again):
		return m.retryOrAgain()
	}
	return m.input.key(k)
}

// retryOrAgain is ctrl+r in the input: retry what failed, else answer the
// last prompt anew (again).
func (m *Model) retryOrAgain() tea.Cmd {
	switch {
	case m.streaming:
	case m.conn == connOffline:
		return m.retry() // a queued message goes once the server answers
	case m.pend != nil && m.input.Value() != "":
		return m.submit()
	case m.pend != nil && m.pend.posted:
		return m.start(m.pend) // stored but unanswered: ask for the answer
	case m.input.Value() == "":
		return m.again()
	}
	return nil
}

func (m *Model) paste(p tea.PasteMsg) tea.Cmd {
	if m.overlay != overlayNone || m.tooSmall() {
		return nil
	}
	if m.side.renaming {
		return m.side.pasteRename(p)
	}
	if m.focus == focusSidebar {
		m.side.filter += oneLine(safetext.Sanitize(p.Content))
		m.side.cursor = 0
		return nil
	}
	return m.input.update(p)
}

func (m *Model) sidebarKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "up":
		m.side.move(-1)
	case "down":
		m.side.move(1)
	case "home":
		m.side.cursor = 0
	case "end":
		m.side.cursor = len(m.side.visible()) - 1
	case "enter":
		c, ok := m.side.selected()
		if !ok {
			return nil
		}
		m.focus = focusInput
		focusCmd := m.input.Focus()
		if m.conv != nil && c.ID == m.conv.ID {
			return focusCmd
		}
		if m.streaming {
			m.setNotice(stillComing)
			return focusCmd
		}
		m.opening = c.ID
		m.pend = nil
		return tea.Batch(focusCmd, m.openConversation(c.ID))
	case "ctrl+r", "f2":
		return m.startRename()
	case "ctrl+d", "delete":
		if c, ok := m.side.selected(); ok {
			m.confirm.id, m.confirm.title = c.ID, titleOrUntitled(c.Title)
			m.overlay = overlayConfirm
		}
	case "backspace":
		if r := []rune(m.side.filter); len(r) > 0 {
			m.side.filter = string(r[:len(r)-1])
			m.side.clamp()
		}
	default:
		if k.Text != "" && k.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
			m.side.filter += k.Text
			m.side.cursor = 0
		}
	}
	if m.side.wantsMore(m.listRows()) {
		return m.loadConversations(false)
	}
	return nil
}

func (m *Model) startRename() tea.Cmd { return m.side.startRename(m.sidebarWidth() - 4) }

func (m *Model) renameKey(k tea.KeyPressMsg) tea.Cmd {
	cmd, id, title := m.side.renameKey(k)
	if id != "" {
		return m.renameConversation(id, title)
	}
	return cmd
}

func (m *Model) openPicker() {
	m.overlay = overlayPicker
	m.picker = listFilter{}
	cur, _ := m.currentModel()
	for i, md := range m.models {
		if md.ID == cur {
			m.picker.cursor = i
		}
	}
}

func (m *Model) pickerModels() []client.Model {
	if m.picker.filter == "" {
		return m.models
	}
	var out []client.Model
	for _, md := range m.models {
		if strings.Contains(strings.ToLower(md.ID), strings.ToLower(m.picker.filter)) {
			out = append(out, md)
		}
	}
	return out
}

func (m *Model) pickerKey(k tea.KeyPressMsg) tea.Cmd {
	list := m.pickerModels()
	switch k.String() {
	case "esc", "ctrl+l":
		m.overlay = overlayNone
	case "enter":
		if m.picker.cursor >= 0 && m.picker.cursor < len(list) {
			id := list[m.picker.cursor].ID
			if m.conv != nil {
				m.modelFor[m.conv.ID] = id
			} else {
				m.draftMdl = id
			}
			m.setNotice("Answers in this conversation now come from " + id + ".")
		}
		m.overlay = overlayNone
	case "ctrl+r":
		return m.loadModels()
	default:
		m.picker.key(k, len(list))
	}
	return nil
}

// Layout.
