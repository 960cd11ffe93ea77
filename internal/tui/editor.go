package tui

import (
	"strings"

	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"
	"github.com/rivo/uniseg"
)

// editor is the input panel: a textarea that recalls earlier prompts with
// ↑/↓ and deletes whole grapheme clusters.
type editor struct {
	textarea.Model
	history  []string // prompts sent, oldest first
	histIdx  int      // index being shown by recall; len(history) when none
	histSave string   // what was typed before recall started
}

func newEditor(th *theme) editor {
	ta := textarea.New()
	ta.ShowLineNumbers = false
	ta.Prompt = ""
	ta.Placeholder = "Ask anything…  (enter sends · ctrl+j newline · / commands · ? help)"
	ta.CharLimit = 0
	ta.MaxHeight = 0
	ta.SetHeight(inputHeight)
	ta.SetVirtualCursor(false)
	ta.KeyMap.InsertNewline.SetKeys("shift+enter", "ctrl+j", "alt+enter")
	ta.KeyMap.InsertNewline.SetHelp("shift+enter · ctrl+j", "new line")
	ta.KeyMap.LineNext.SetKeys("down")
	ta.KeyMap.LinePrevious.SetKeys("up")
	ta.KeyMap.DeleteCharacterForward.SetKeys("delete")
	ta.KeyMap.DeleteCharacterForward.SetHelp("ctrl+d · delete", "delete forward")
	ta.SetStyles(th.inputStyles())
	ta.Focus()
	return editor{Model: ta}
}

// update passes msg to the textarea.
func (e *editor) update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	e.Model, cmd = e.Model.Update(msg)
	return cmd
}

// key handles a key the chat did not take: recall, whole-cluster
// deletion, else the textarea's own keys (readline's, mostly).
func (e *editor) key(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "backspace":
		e.repeat(tea.KeyBackspace, e.clusterRunes(-1))
		return nil
	case "ctrl+d", "delete":
		e.repeat(tea.KeyDelete, e.clusterRunes(1))
		return nil
	case "up":
		if e.recall(-1) {
			return nil
		}
	case "down":
		if e.histIdx < len(e.history) && e.recall(1) {
			return nil
		}
	}
	return e.update(k)
}

// remember adds a prompt to the history (not twice in a row) and ends a
// recall.
func (e *editor) remember(text string) {
	if n := len(e.history); n == 0 || e.history[n-1] != text {
		e.history = append(e.history, text)
	}
	e.histIdx = len(e.history)
}

// clusterRunes is the number of runes of the grapheme cluster before
// (dir < 0) or after the cursor: what one backspace or delete takes, so a
// family emoji or a letter with its combining marks goes whole. At a
// line's edge it is 1 (the line break).
func (e *editor) clusterRunes(dir int) int {
	lines := strings.Split(e.Value(), "\n")
	if e.Line() >= len(lines) {
		return 1
	}
	line := []rune(lines[e.Line()])
	col := min(e.Column(), len(line))
	part := string(line[col:])
	if dir < 0 {
		part = string(line[:col])
	}
	n := 0
	for g := uniseg.NewGraphemes(part); g.Next(); {
		if r := len(g.Runes()); dir < 0 {
			n = r // the last one
		} else {
			return r
		}
	}
	return max(n, 1)
}

// repeat gives the textarea n presses of k.
func (e *editor) repeat(k rune, n int) {
	for range n {
		e.update(tea.KeyPressMsg{Code: k})
	}
}

// recall shows an earlier (dir -1) or later (+1) prompt, when the input is
// empty or shows a recalled prompt unchanged.
func (e *editor) recall(dir int) bool {
	v := e.Value()
	recalled := e.histIdx < len(e.history) && v == e.history[e.histIdx]
	if v != "" && !recalled {
		return false
	}
	if e.LineCount() > 1 && recalled && dir < 0 && e.Line() > 0 {
		return false // move within a multi-line prompt first
	}
	i := e.histIdx + dir
	if i < 0 || len(e.history) == 0 {
		return true
	}
	if i >= len(e.history) {
		e.histIdx = len(e.history)
		e.SetValue(e.histSave)
		return true
	}
	if !recalled {
		e.histSave = v
	}
	e.histIdx = i
	e.SetValue(e.history[i])
	return true
}
