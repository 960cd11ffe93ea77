package tui

import (
	"context"
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

// The smallest terminal the chat draws in; below it, it says so.
const (
	minWidth     = 40
	minHeight    = 10
	sidebarBreak = 80 // narrower than this, the sidebar is hidden until tab
	inputHeight  = 3
)

type focus int

const (
	focusInput focus = iota
	focusSidebar
)

type overlay int

const (
	overlayNone overlay = iota
	overlayHelp
	overlayPicker
	overlayConfirm
	overlayPalette
)

type connState int

const (
	connConnecting connState = iota
	connOK
	connOffline
)

// Model is the chat's one root model. Its methods have pointer receivers:
// Bubble Tea gets the same *Model back from every Update.
type Model struct {
	opts Options
	base context.Context
	stop context.CancelFunc

	th            theme
	dark, noColor bool
	width, height int

	focus   focus
	overlay overlay
	side    sidebar
	tr      transcript
	input   editor
	keys    keyMap
	helpTop int // the help overlay's first line shown
	sel     selection
	body    []string // the transcript's lines as last drawn, for a selection

	conv     *client.Conversation // nil: a new conversation not created yet
	opening  string               // id of a conversation being loaded
	models   []client.Model
	modelErr error
	modelFor map[string]string // conversation id → model picked for it
	draftMdl string            // model picked for the new conversation
	picker   listFilter
	confirm  struct{ id, title string }
	palette  listFilter

	turn // the answer being streamed, one at a time (turn.go)

	editing  []string  // /edit: the stored prompt (and answer) the input's text replaces
	state    chatState // remembered between runs (state.go)
	resuming bool      // opening the conversation the last run left open

	// Each conversation's last answer's figures, for the status line.
	figures map[string]figures

	conn        connState
	banner      string
	bannerIsErr bool
	retryIn     time.Duration
}

// New builds the chat model; Run shows it.
func New(o Options) *Model {
	o.defaults()
	m := &Model{opts: o, figures: map[string]figures{}, modelFor: map[string]string{}, draftMdl: o.Model}
	m.base, m.stop = context.WithCancel(context.Background())
	m.dark = true
	m.noColor = o.Getenv("NO_COLOR") != ""
	m.th = newTheme(m.dark, m.noColor)
	m.tr.th = &m.th
	m.tr.style = m.th.glamour

	m.input = newEditor(&m.th)
	m.state = loadState(o.StatePath)
	m.input.history = append([]string(nil), m.state.Prompts...)
	m.input.histIdx = len(m.input.history)
	m.keys = defaultKeys()
	return m
}

// shutdown stops what the chat left running.
func (m *Model) shutdown() {
	if m.stream != nil {
		m.stream.Close()
	}
	m.stop()
}

// Init starts loading the conversations and models.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.loadConversations(true), m.loadModels(), m.loadProjects(), waitNotice(m.opts.Notices), tea.RequestBackgroundColor}
	open := m.opts.Conversation
	if open == "" {
		open = m.state.Conversations[m.opts.Server] // where the last run left off
		m.resuming = open != ""
	}
	if open != "" {
		m.opening = open
		cmds = append(cmds, m.openConversation(open))
	}
	return tea.Batch(cmds...)
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.BackgroundColorMsg:
		if dark := msg.IsDark(); dark != m.dark {
			m.dark = dark
			m.th = newTheme(m.dark, m.noColor)
			m.tr.style = m.th.glamour
			m.tr.invalidate()
			m.input.SetStyles(m.th.inputStyles())
		}
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		return m, m.paste(msg)
	case conversationsMsg:
		return m, m.onConversations(msg)
	case projectsMsg:
		m.side.nameProjects(msg.projects, m.opts.Project)
		return m, nil
	case modelsMsg:
		m.models, m.modelErr = msg.models, msg.err
		for i := range m.models {
			m.models[i].ID = safetext.Sanitize(m.models[i].ID)
		}
		if msg.err == nil {
			return m, m.online()
		}
		return m, nil
	case openedMsg:
		return m, m.onOpened(msg)
	case sentMsg:
		return m, m.onSent(msg)
	case streamBatchMsg:
		if msg.id != m.streamID || m.tr.live == nil {
			return m, nil
		}
		m.tr.live.add(msg.text)
		m.tokens += msg.deltas
		if m.firstToken.IsZero() && !msg.first.IsZero() {
			m.firstToken = msg.first
			if m.pend != nil {
				f := m.figures[m.streamConv]
				f.ttft = msg.first.Sub(m.pend.started)
				m.figures[m.streamConv] = f
			}
		}
		return m, listen(m.events)
	case streamRunMsg:
		if msg.id != m.streamID {
			return m, nil
		}
		return m, m.onRun(msg.run)
	case streamErrorMsg:
		if msg.id != m.streamID {
			return m, nil
		}
		m.streamErr = msg.err
		return m, listen(m.events)
	case streamEndMsg:
		if msg.id != m.streamID {
			return m, nil
		}
		return m, m.finishStream(msg.err, msg.lastID)
	case cancelledMsg:
		if msg.err != nil {
			m.setError("Could not stop the answer on the server", msg.err)
			if m.stream != nil {
				m.stream.Close() // leaving the stream stops it too
			}
		}
		return m, nil
	case renamedMsg:
		if msg.err != nil {
			m.setError("Rename failed", msg.err)
			return m, nil
		}
		m.side.upsert(*msg.conv)
		if m.conv != nil && m.conv.ID == msg.conv.ID {
			m.conv.Title = oneLine(safetext.Sanitize(msg.conv.Title))
		}
		return m, nil
	case deletedMsg:
		if msg.err != nil {
			m.setError("Delete failed", msg.err)
			return m, nil
		}
		m.side.remove(msg.id)
		var cmd tea.Cmd
		if m.conv != nil && m.conv.ID == msg.id {
			m.newConversation()
			cmd = m.rememberConversation("")
		}
		m.setNotice("Conversation deleted.")
		return m, cmd
	case exportedMsg:
		if msg.err != nil {
			m.setError("Export failed", msg.err)
		} else {
			m.setNotice("Saved the conversation to " + msg.path + ".")
		}
		return m, nil
	case stateErrMsg:
		m.setError("Could not remember this session (chatting works as before)", msg.err)
		return m, nil
	case noticeMsg:
		m.setNotice(safetext.Sanitize(string(msg)))
		return m, waitNotice(m.opts.Notices)
	case waitTickMsg:
		if msg.id == m.streamID && m.streaming && m.firstToken.IsZero() {
			return m, waitTick(m.streamID) // the spinner turns until the first token
		}
		return m, nil
	case tea.MouseMsg:
		return m, m.mouse(msg)
	case retryMsg:
		if m.conn != connOffline {
			return m, nil
		}
		return m, m.retry()
	}
	return m, nil
}

func (m *Model) retry() tea.Cmd {
	m.conn = connConnecting
	cmds := []tea.Cmd{m.loadConversations(true)}
	if m.models == nil {
		cmds = append(cmds, m.loadModels())
	}
	if m.opening != "" {
		cmds = append(cmds, m.openConversation(m.opening))
	}
	return tea.Batch(cmds...)
}

func (m *Model) onConversations(msg conversationsMsg) tea.Cmd {
	m.side.loading = false
	if msg.err != nil {
		return m.offline("Could not load your conversations", msg.err)
	}
	m.conn = connOK
	if m.bannerIsErr && m.retryIn > 0 {
		m.clearBanner()
	}
	m.retryIn = 0
	m.side.add(msg.page, msg.reset, msg.params)
	cmds := []tea.Cmd{m.online()}
	if m.side.wantsMore(m.listRows()) {
		cmds = append(cmds, m.loadConversations(false))
	}
	return tea.Batch(cmds...)
}

// online records that the server answered; what waited for it goes now:
// a message queued while it was unreachable, an answer cut off mid-stream.
func (m *Model) online() tea.Cmd {
	m.conn = connOK
	if m.streaming || m.opening != "" {
		return nil
	}
	if p := m.pend; p != nil && p.queued {
		return m.start(p)
	}
	if last := m.tr.back(0); last != nil && last.runID != "" && m.pend == nil {
		return m.again()
	}
	return nil
}

// offline reports a failure; when the server is unreachable it retries
// by itself, backing off to 30s.
func (m *Model) offline(what string, err error) tea.Cmd {
	m.setError(what, err)
	if !client.IsUnreachable(err) {
		return nil
	}
	m.conn = connOffline
	m.retryIn = min(max(2*m.retryIn, 2*time.Second), 30*time.Second)
	return tea.Tick(m.retryIn, func(time.Time) tea.Msg { return retryMsg{} })
}

func (m *Model) onOpened(msg openedMsg) tea.Cmd {
	if msg.err != nil && m.resuming && !client.IsUnreachable(msg.err) {
		// The conversation the last run left open is gone: start afresh.
		m.resuming, m.opening = false, ""
		return m.rememberConversation("")
	}
	if msg.err != nil {
		if !client.IsUnreachable(msg.err) {
			m.opening = "" // not found, say: no retry
		}
		return m.offline("Could not open the conversation", msg.err)
	}
	if m.opening != msg.conv.ID {
		return nil // another one was asked for since
	}
	m.opening = ""
	c := *msg.conv
	c.Title = oneLine(safetext.Sanitize(c.Title))
	c.Model = safetext.Sanitize(c.Model)
	m.conv = &c
	m.tr.show(msg.messages)
	m.side.selectID(c.ID)
	m.resuming = false
	m.input.history = historyWith(m.state.Prompts, msg.messages)
	m.input.histIdx = len(m.input.history)
	return tea.Batch(m.rememberConversation(c.ID), m.online())
}

func (m *Model) newConversation() {
	m.conv = nil
	m.opening = ""
	m.tr.clear()
	m.draftMdl = m.opts.Model
	m.pend = nil
}

// currentModel is the model the next answer uses, and whether it is only
// the server's default.
func (m *Model) currentModel() (string, bool) {
	if m.conv != nil {
		if id := m.modelFor[m.conv.ID]; id != "" {
			return id, false
		}
		if m.opts.Model != "" {
			return m.opts.Model, false
		}
		if m.conv.Model != "" {
			return m.conv.Model, false
		}
	} else if m.draftMdl != "" {
		return m.draftMdl, false
	}
	if len(m.models) > 0 {
		return m.models[0].ID, true
	}
	return "", true
}

func (m *Model) setError(what string, err error) {
	msg := err.Error()
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		msg = apiErr.Message
		if apiErr.Code != "" {
			msg += " (" + apiErr.Code + ")"
		}
	}
	m.banner = what + ": " + safetext.Sanitize(msg)
	if h := client.Hint(err, m.opts.Server); h != "" && client.IsUnreachable(err) {
		m.banner += " — retrying; ctrl+r to retry now"
	}
	m.bannerIsErr = true
}

func (m *Model) setNotice(s string) { m.banner, m.bannerIsErr = s, false }

// stillComing is the notice for what cannot be done while an answer
// streams; it goes when the answer has come.
const stillComing = "An answer is still coming: wait for it, or press esc to stop it."

func (m *Model) clearBanner() { m.banner, m.bannerIsErr = "", false }
