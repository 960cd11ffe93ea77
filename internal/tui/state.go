package tui

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
)

// Bounds of what the chat remembers between runs.
const (
	keepPrompts     = 500     // the newest prompts sent
	keepPromptBytes = 8 << 10 // a longer prompt is not kept
	maxStateBytes   = 8 << 20 // the state file is read this far at most (500 prompts of 8 KB, escaped)
)

// chatState is what the chat remembers between runs, in
// Options.StatePath (0600: prompts can be private): the conversation open
// on each server, and the prompts sent (for ↑).
type chatState struct {
	Conversations map[string]string `json:"conversations"` // server → conversation id
	Prompts       []string          `json:"prompts"`
}

// loadState reads path; a missing or unreadable file is an empty state
// (what is remembered is a convenience, never a reason not to start).
func loadState(path string) chatState {
	var st chatState
	if f, err := os.Open(path); err == nil {
		// Bounded: a file grown (or replaced) past what saveState writes is
		// read as far as the bound, which makes it invalid JSON: nothing kept.
		_ = json.NewDecoder(io.LimitReader(f, maxStateBytes)).Decode(&st)
		f.Close()
	}
	if st.Conversations == nil {
		st.Conversations = map[string]string{}
	}
	if len(st.Prompts) > keepPrompts {
		st.Prompts = st.Prompts[len(st.Prompts)-keepPrompts:]
	}
	return st
}

// stateErrMsg: the state could not be saved.
type stateErrMsg struct{ err error }

var stateMu sync.Mutex // saves happen in commands, one at a time

// saveState writes a snapshot of the state (atomically: a temp file
// renamed over the old one) in the background.
func (m *Model) saveState() tea.Cmd {
	path := m.opts.StatePath
	if path == "" {
		return nil
	}
	snap := chatState{Conversations: map[string]string{}, Prompts: append([]string(nil), m.state.Prompts...)}
	for k, v := range m.state.Conversations {
		snap.Conversations[k] = v
	}
	return func() tea.Msg {
		stateMu.Lock()
		defer stateMu.Unlock()
		b, err := json.Marshal(snap)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(path), 0o700)
		}
		if err == nil {
			tmp := path + ".tmp"
			if err = os.WriteFile(tmp, b, 0o600); err == nil {
				err = os.Rename(tmp, path)
			}
		}
		if err != nil {
			return stateErrMsg{err}
		}
		return nil
	}
}

// rememberConversation records the conversation open now ("" for a new
// one) as the one to reopen next time.
func (m *Model) rememberConversation(id string) tea.Cmd {
	if m.opts.StatePath == "" || m.state.Conversations[m.opts.Server] == id {
		return nil
	}
	m.state.Conversations[m.opts.Server] = id
	return m.saveState()
}

// rememberPrompt records a prompt sent, for ↑ in later runs.
func (m *Model) rememberPrompt(text string) tea.Cmd {
	if m.opts.StatePath == "" || len(text) > keepPromptBytes {
		return nil
	}
	if n := len(m.state.Prompts); n > 0 && m.state.Prompts[n-1] == text {
		return nil
	}
	m.state.Prompts = append(m.state.Prompts, text)
	if len(m.state.Prompts) > keepPrompts {
		m.state.Prompts = m.state.Prompts[len(m.state.Prompts)-keepPrompts:]
	}
	return m.saveState()
}

// historyWith is the prompts sent in earlier runs followed by the user
// messages of the conversation just opened (its last prompt first on ↑).
func historyWith(sent []string, conv []client.Message) []string {
	h := append([]string(nil), sent...)
	for _, msg := range conv {
		if msg.Role == client.RoleUser && msg.Content != "" && (len(h) == 0 || h[len(h)-1] != msg.Content) {
			h = append(h, msg.Content)
		}
	}
	return h
}
