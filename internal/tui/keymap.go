package tui

import (
	kb "charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
)

// keyMap is every key of the chat: the key handling matches these
// bindings, and the help overlay lists them, so the two cannot disagree.
type keyMap struct {
	// Anywhere.
	Quit, Help, PickModel, NewChat, Focus, PageUp, PageDown, CopyAnswer, CopyCode, Back kb.Binding
	// In the input.
	Send, Again, Palette, Recall kb.Binding
	// In the sidebar.
	Open, Rename, Delete, Filter kb.Binding
}

func defaultKeys() keyMap {
	b := func(keys []string, help, what string) kb.Binding {
		return kb.NewBinding(kb.WithKeys(keys...), kb.WithHelp(help, what))
	}
	return keyMap{
		Quit:       b([]string{"ctrl+c"}, "ctrl+c", "quit; with a draft, clear it first (↑ brings it back)"),
		Help:       b([]string{"f1", "?"}, "? · f1", "this help (? on an empty input)"),
		PickModel:  b([]string{"ctrl+l"}, "ctrl+l", "pick the model"),
		NewChat:    b([]string{"ctrl+n"}, "ctrl+n", "new conversation"),
		Focus:      b([]string{"tab", "shift+tab"}, "tab", "switch between input and sidebar"),
		PageUp:     b([]string{"pgup"}, "pgup · wheel", "scroll the transcript up"),
		PageDown:   b([]string{"pgdown"}, "pgdn · wheel", "scroll it down"),
		CopyAnswer: b([]string{"ctrl+y"}, "ctrl+y", "copy the last answer (OSC 52)"),
		CopyCode:   b([]string{"alt+y"}, "alt+y", "copy its last code block"),
		Back:       b([]string{"esc"}, "esc", "back to the end; at the end, stop the answer"),

		Send:    b([]string{"enter"}, "enter", "send"),
		Again:   b([]string{"ctrl+r"}, "ctrl+r", "retry; else regenerate the last answer"),
		Palette: b([]string{"/"}, "/", "commands (on an empty input)"),
		Recall:  b([]string{"up", "down"}, "↑ / ↓", "earlier prompts (empty input)"),

		Open:   b([]string{"enter"}, "↑ / ↓ · enter", "choose · open"),
		Rename: b([]string{"ctrl+r", "f2"}, "ctrl+r · f2", "rename"),
		Delete: b([]string{"ctrl+d", "delete"}, "ctrl+d · delete", "delete (asks first)"),
		Filter: b(nil, "type", "filter conversations"),
	}
}

// helpSection is a group of keys in the help overlay.
type helpSection struct {
	title    string
	bindings []kb.Binding
}

// helpSections are the keys as the help overlay shows them: the chat's,
// then the input's editing keys (the textarea's readline bindings).
func (k keyMap) helpSections(ed textarea.KeyMap) []helpSection {
	return []helpSection{
		{"Input", []kb.Binding{k.Send, ed.InsertNewline, k.Recall, k.Palette, k.Back, k.Again}},
		{"Chat", []kb.Binding{k.NewChat, k.PickModel, k.PageUp, k.PageDown, k.CopyAnswer, k.CopyCode}},
		{"Sidebar", []kb.Binding{k.Focus, k.Filter, k.Open, k.Rename, k.Delete}},
		{"Editing", []kb.Binding{ed.LineStart, ed.LineEnd, ed.WordBackward, ed.WordForward,
			ed.DeleteWordBackward, ed.DeleteWordForward, ed.DeleteBeforeCursor, ed.DeleteAfterCursor,
			ed.DeleteCharacterForward, ed.InputBegin, ed.InputEnd, ed.UppercaseWordForward, ed.TransposeCharacterBackward}},
		{"", []kb.Binding{k.Help, k.Quit}},
	}
}
