package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/textarea"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/rivo/uniseg"

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
	input   textarea.Model

	history  []string // prompts sent, oldest first
	histIdx  int      // index being shown by up-arrow recall; len(history) when none
	histSave string   // what was typed before recall started

	conv     *client.Conversation // nil: a new conversation not created yet
	opening  string               // id of a conversation being loaded
	models   []client.Model
	modelErr error
	modelFor map[string]string // conversation id → model picked for it
	draftMdl string            // model picked for the new conversation
	picker   struct {
		cursor int
		filter string
	}
	confirm struct{ id, title string }

	// The answer being streamed (one at a time).
	streaming  bool
	streamID   int
	streamConv string
	runID      string
	stopping   bool // Esc pressed: cancel once the run id is known
	stream     *client.Stream
	events     chan tea.Msg
	pend       *pending
	finalRun   *client.Run
	streamErr  *client.Error
	tokens     int
	firstToken time.Time

	// The last answer's figures, for the status line.
	ttft time.Duration
	tps  float64

	conn        connState
	banner      string
	bannerIsErr bool
	retryIn     time.Duration
}

// New builds the chat model; Run shows it.
func New(o Options) *Model {
	o.defaults()
	m := &Model{opts: o, histIdx: 0, modelFor: map[string]string{}, draftMdl: o.Model}
	m.base, m.stop = context.WithCancel(context.Background())
	m.dark = true
	m.noColor = o.Getenv("NO_COLOR") != ""
	m.th = newTheme(m.dark, m.noColor)
	m.tr.th = &m.th
	m.tr.style = m.th.glamour

	ta := textarea.New()
	ta.ShowLineNumbers = false
	ta.Prompt = ""
	ta.Placeholder = "Ask anything…  (enter sends · ctrl+j newline · ? help)"
	ta.CharLimit = 0
	ta.MaxHeight = 0
	ta.SetHeight(inputHeight)
	ta.SetVirtualCursor(false)
	ta.KeyMap.InsertNewline.SetKeys("shift+enter", "ctrl+j", "alt+enter")
	ta.KeyMap.LineNext.SetKeys("down")
	ta.KeyMap.LinePrevious.SetKeys("up")
	ta.KeyMap.DeleteCharacterForward.SetKeys("delete")
	ta.SetStyles(m.th.inputStyles())
	ta.Focus()
	m.input = ta
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
	if m.opts.Conversation != "" {
		m.opening = m.opts.Conversation
		cmds = append(cmds, m.openConversation(m.opts.Conversation))
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
			m.conn = connOK
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
				m.ttft = msg.first.Sub(m.pend.started)
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
		if m.conv != nil && m.conv.ID == msg.id {
			m.newConversation()
		}
		m.setNotice("Conversation deleted.")
		return m, nil
	case noticeMsg:
		m.setNotice(safetext.Sanitize(string(msg)))
		return m, waitNotice(m.opts.Notices)
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
	var cmds []tea.Cmd
	if m.side.wantsMore(m.listRows()) {
		cmds = append(cmds, m.loadConversations(false))
	}
	if p := m.pend; p != nil && p.queued && !m.streaming {
		cmds = append(cmds, m.start(p)) // the server is back: send what waited
	} else if n := len(m.tr.entries); n > 0 && m.tr.entries[n-1].runID != "" && !m.streaming && m.pend == nil {
		cmds = append(cmds, m.again()) // and a cut answer goes on
	}
	return tea.Batch(cmds...)
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
	m.conn = connOK
	c := *msg.conv
	c.Title = oneLine(safetext.Sanitize(c.Title))
	c.Model = safetext.Sanitize(c.Model)
	m.conv = &c
	m.tr.entries = m.tr.entries[:0]
	for _, msg := range msg.messages {
		m.tr.entries = append(m.tr.entries, entryOf(msg))
	}
	m.tr.offset = 0
	m.side.selectID(c.ID)
	return nil
}

func (m *Model) newConversation() {
	m.conv = nil
	m.opening = ""
	m.tr.entries = nil
	m.tr.offset = 0
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

// submit sends what is in the input.
func (m *Model) submit() tea.Cmd {
	text := strings.TrimSpace(m.input.Value())
	if text == "" {
		return nil
	}
	if m.streaming {
		m.setNotice(stillComing)
		return nil
	}
	if m.opening != "" {
		m.setNotice("The conversation is still loading; send again in a moment.")
		return nil
	}
	model, isDefault := m.currentModel()
	if isDefault {
		model = "" // let the server pick its default
	}
	convID := ""
	if m.conv != nil {
		convID = m.conv.ID
	}
	p := m.pend
	if p == nil || p.text != text || p.convID != convID {
		p = newPending(text, convID, model, m.opts.Now())
	} else {
		p.started = m.opts.Now()
		if p.model != model {
			p.model, p.runKey = model, client.NewIdempotencyKey()
		}
	}
	m.pend = p
	if n := len(m.history); n == 0 || m.history[n-1] != text {
		m.history = append(m.history, text)
	}
	m.histIdx = len(m.history)
	m.input.Reset()
	if !p.posted {
		m.tr.entries = append(m.tr.entries, &entry{role: client.RoleUser, text: safetext.Sanitize(text)})
	}
	return m.start(p)
}

// start sends p and opens its answer's stream.
func (m *Model) start(p *pending) tea.Cmd {
	m.tr.offset = 0
	m.streamID++
	p.streamID, p.queued = m.streamID, false
	m.setUserNote("")
	m.streaming, m.streamConv, m.runID, m.stopping = true, p.convID, "", false
	m.finalRun, m.streamErr, m.tokens, m.firstToken = nil, nil, 0, time.Time{}
	m.tr.live = &live{model: p.model}
	m.clearBanner()
	return m.send(p)
}

// setUserNote sets the note under the last message when it is the user's.
func (m *Model) setUserNote(note string) {
	if n := len(m.tr.entries); n > 0 && m.tr.entries[n-1].role == client.RoleUser && m.tr.entries[n-1].note != note {
		e := m.tr.entries[n-1]
		e.note, e.lines = note, nil
	}
}

const queuedNote = "⏳ Not sent yet: it goes when the server is back · esc takes it back"

func (m *Model) onSent(msg sentMsg) tea.Cmd {
	if msg.created != nil {
		c := *msg.created
		c.Title = oneLine(safetext.Sanitize(c.Title))
		m.conv = &c
		m.pend.convID = c.ID
		if m.draftMdl != "" {
			m.modelFor[c.ID] = m.draftMdl
		}
		m.side.upsert(c)
		m.side.selectID(c.ID)
		m.streamConv = c.ID
	}
	if msg.err != nil {
		m.streaming = false
		m.tr.live = nil
		var posted errPosted
		if errors.As(msg.err, &posted) {
			m.pend.posted = true // the prompt is stored: a retry only runs it
		}
		if client.IsUnreachable(msg.err) {
			// Queued: sent again (same idempotency keys, so once) as soon
			// as the server answers; the retries back off to 30 s.
			m.pend.queued = true
			m.setUserNote(queuedNote)
			return m.offline("Not sent yet", msg.err)
		}
		if n := len(m.tr.entries); !m.pend.posted && n > 0 && m.tr.entries[n-1].role == client.RoleUser {
			m.tr.entries = m.tr.entries[:n-1]
		}
		if m.input.Value() == "" {
			m.input.SetValue(m.pend.text) // keep what was typed
		}
		if m.pend.posted {
			m.setError("Sent, but no answer came", msg.err)
		} else {
			m.setError("Not sent", msg.err)
		}
		m.banner += " · enter to retry"
		return nil
	}
	m.conn = connOK
	m.stream, m.events = msg.stream, msg.events
	m.runID = msg.runID
	cmds := []tea.Cmd{listen(m.events)}
	if m.stopping && m.runID != "" {
		cmds = append(cmds, m.cancelRun(m.streamConv, m.runID))
	}
	return tea.Batch(cmds...)
}

func (m *Model) onRun(run *client.Run) tea.Cmd {
	cmds := []tea.Cmd{listen(m.events)}
	if run.Status == client.StatusInProgress {
		first := m.runID == ""
		m.runID = run.ID
		if run.Model != "" && m.tr.live != nil {
			m.tr.live.model = safetext.Sanitize(run.Model)
		}
		if first && m.stopping {
			cmds = append(cmds, m.cancelRun(m.streamConv, m.runID))
		}
		return tea.Batch(cmds...)
	}
	m.finalRun = run
	return tea.Batch(cmds...)
}

// finishStream turns the live answer into a transcript entry: the stored
// message when the server sent it (every token), else what arrived. An
// answer cut off (the stream's own reconnects failed) whose run goes on is
// picked up once the server answers again.
func (m *Model) finishStream(cut error, lastID string) tea.Cmd {
	var cmd tea.Cmd
	l := m.tr.live
	e := &entry{role: client.RoleAssistant}
	if l != nil {
		e.text, e.model = l.text.String(), l.model
	}
	run := m.finalRun
	if run != nil {
		e.model = safetext.Sanitize(run.Model)
		if run.Message != nil {
			e.id = run.Message.ID
			e.text = safetext.Sanitize(run.Message.Content)
		}
		if m.conv != nil && run.Model != "" {
			m.conv.Model = e.model
		}
	}
	switch {
	case cut != nil && !errors.Is(cut, context.Canceled) && run == nil && m.runID != "" && m.conv != nil:
		e.note, e.failed = cutNote, true
		e.runID, e.after = m.runID, lastID // no id: all of it again
		cmd = m.offline("The answer was cut short", &client.UnreachableError{URL: m.opts.Server, Err: cut})
	case cut != nil && !errors.Is(cut, context.Canceled):
		e.note, e.failed = "⚠ The connection dropped mid-answer.", true
		m.setError("The answer was cut short", cut)
	case m.streamErr != nil:
		e.note, e.failed = "✗ "+safetext.Sanitize(m.streamErr.Message), true
		m.setError("The answer failed", m.streamErr)
	case run != nil && run.Status == client.StatusFailed:
		msg := "the model failed"
		if run.Error != nil {
			msg = safetext.Sanitize(run.Error.Message)
		}
		e.note, e.failed = "✗ "+msg, true
	case run != nil && run.Status == client.StatusIncomplete, m.stopping:
		e.note = "⏹ Stopped: the partial answer is kept."
	}
	if e.text != "" || e.note != "" {
		m.tr.entries = append(m.tr.entries, e)
	}
	if m.pend != nil && m.pend.resume != nil && e.runID == "" {
		m.setNotice("Picked up the answer where the connection dropped.")
	}
	// Figures for the status line.
	end := m.opts.Now()
	tokens := m.tokens
	if run != nil && run.Usage != nil && run.Usage.CompletionTokens > 0 {
		tokens = run.Usage.CompletionTokens
	}
	if !m.firstToken.IsZero() && tokens > 1 {
		if d := end.Sub(m.firstToken); d > 0 {
			m.tps = float64(tokens-1) / d.Seconds()
		}
	}
	m.tr.live = nil
	m.streaming, m.stopping = false, false
	m.stream, m.events = nil, nil
	if m.banner == stillComing {
		m.clearBanner() // it has come
	}
	m.pend = nil
	if m.conv != nil {
		m.side.upsert(*m.conv)
	}
	return cmd
}

// unqueue takes back a message waiting for the server: into the input
// again, unless the server has it already (then it stays, unanswered).
func (m *Model) unqueue() {
	p := m.pend
	p.queued = false
	m.setUserNote("")
	if p.posted {
		m.setNotice("The server has that message already; ctrl+r asks for its answer.")
		return
	}
	if n := len(m.tr.entries); n > 0 && m.tr.entries[n-1].role == client.RoleUser {
		m.tr.entries = m.tr.entries[:n-1]
	}
	if m.input.Value() == "" {
		m.input.SetValue(p.text)
	}
	m.setNotice("Taken back: it is in the input.")
}

const cutNote = "⚠ Connection dropped mid-answer; the server goes on · ctrl+r picks it up"

// again answers the last prompt anew (ctrl+r with nothing else to retry):
// picks up an answer cut off while its run went on; answers a prompt left
// unanswered; or regenerates the last answer — a new run, the old answer
// deleted first (it would otherwise be history the new one follows).
func (m *Model) again() tea.Cmd {
	if m.conv == nil || m.opening != "" || len(m.tr.entries) == 0 {
		return nil
	}
	n := len(m.tr.entries)
	last := m.tr.entries[n-1]
	model, isDefault := m.currentModel()
	if isDefault {
		model = ""
	}
	p := newPending("", m.conv.ID, model, m.opts.Now())
	p.posted = true
	switch {
	case last.runID != "":
		m.tr.entries = m.tr.entries[:n-1]
		p.resume = last
		m.pend = p
		cmd := m.start(p)
		m.tr.live.model = last.model
		if last.after != "" {
			m.tr.live.add(last.text) // what arrived before the cut, continued
		}
		return cmd
	case last.role == client.RoleUser:
		p.text = last.text
	case last.role == client.RoleAssistant && n >= 2 && m.tr.entries[n-2].role == client.RoleUser:
		if last.id == "" {
			m.setNotice("That answer is not stored: reopen the conversation to regenerate it.")
			return nil
		}
		p.text, p.replace = m.tr.entries[n-2].text, last.id
		m.tr.entries = m.tr.entries[:n-1]
	default:
		return nil
	}
	m.pend = p
	return m.start(p)
}

// stopAnswer asks the server to stop the answer being streamed.
func (m *Model) stopAnswer() tea.Cmd {
	if !m.streaming || m.stopping {
		return nil
	}
	m.stopping = true
	if m.runID == "" {
		return nil // cancelled as soon as the run id arrives
	}
	return m.cancelRun(m.streamConv, m.runID)
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

// key handles a key press.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	if s == "ctrl+c" {
		var cmd tea.Cmd
		if m.streaming && m.runID != "" {
			cmd = m.cancelRunWithin(m.streamConv, m.runID, 2*time.Second)
		}
		return tea.Sequence(cmd, tea.Quit)
	}
	if m.tooSmall() {
		return nil
	}
	switch m.overlay {
	case overlayHelp:
		m.overlay = overlayNone
		return nil
	case overlayPicker:
		return m.pickerKey(k)
	case overlayConfirm:
		switch s {
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
	switch s {
	case "f1":
		m.overlay = overlayHelp
		return nil
	case "ctrl+l":
		m.openPicker()
		return nil
	case "ctrl+n":
		if m.streaming {
			m.setNotice(stillComing)
			return nil
		}
		m.newConversation()
		m.focus = focusInput
		return m.input.Focus()
	case "tab", "shift+tab":
		if m.focus == focusInput {
			m.focus = focusSidebar
			m.input.Blur()
			return nil
		}
		m.focus = focusInput
		return m.input.Focus()
	case "pgup":
		m.tr.scroll(m.transcriptHeight()-2, m.mainWidth(), m.transcriptHeight())
		return nil
	case "pgdown":
		m.tr.scroll(-(m.transcriptHeight() - 2), m.mainWidth(), m.transcriptHeight())
		return nil
	case "ctrl+y":
		return m.copy(m.tr.lastAnswer(), "the last answer")
	case "alt+y":
		return m.copy(lastCodeBlock(m.tr.lastAnswer()), "the last code block")
	case "esc":
		// One step back at a time: out of the sidebar, back to the end of
		// the transcript, then (only at the end) stop the answer.
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
		case m.banner != "":
			m.clearBanner()
		}
		return nil
	}
	if m.focus == focusSidebar {
		return m.sidebarKey(k)
	}
	return m.inputKey(k)
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
	switch k.String() {
	case "enter":
		return m.submit()
	case "ctrl+r":
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
	case "?":
		if m.input.Value() == "" {
			m.overlay = overlayHelp
			return nil
		}
	case "backspace":
		m.repeatKey(tea.KeyBackspace, m.clusterRunes(-1))
		return nil
	case "ctrl+d", "delete":
		m.repeatKey(tea.KeyDelete, m.clusterRunes(1))
		return nil
	case "up":
		if m.recall(-1) {
			return nil
		}
	case "down":
		if m.histIdx < len(m.history) && m.recall(1) {
			return nil
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return cmd
}

// clusterRunes is the number of runes of the grapheme cluster before
// (dir < 0) or after the input's cursor: what one backspace or delete
// takes, so a family emoji or a letter with its combining marks goes whole.
// At a line's edge it is 1 (the line break).
func (m *Model) clusterRunes(dir int) int {
	lines := strings.Split(m.input.Value(), "\n")
	if m.input.Line() >= len(lines) {
		return 1
	}
	line := []rune(lines[m.input.Line()])
	col := min(m.input.Column(), len(line))
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

// repeatKey gives the input n presses of k.
func (m *Model) repeatKey(k rune, n int) {
	for range n {
		m.input, _ = m.input.Update(tea.KeyPressMsg{Code: k})
	}
}

// recall shows an earlier (dir -1) or later (+1) prompt in the input, when
// the input is empty or shows a recalled prompt unchanged.
func (m *Model) recall(dir int) bool {
	v := m.input.Value()
	recalled := m.histIdx < len(m.history) && v == m.history[m.histIdx]
	if v != "" && !recalled {
		return false
	}
	if m.input.LineCount() > 1 && recalled && dir < 0 && m.input.Line() > 0 {
		return false // move within a multi-line prompt first
	}
	i := m.histIdx + dir
	if i < 0 || len(m.history) == 0 {
		return true
	}
	if i >= len(m.history) {
		m.histIdx = len(m.history)
		m.input.SetValue(m.histSave)
		return true
	}
	if !recalled {
		m.histSave = v
	}
	m.histIdx = i
	m.input.SetValue(m.history[i])
	return true
}

func (m *Model) paste(p tea.PasteMsg) tea.Cmd {
	if m.overlay != overlayNone || m.tooSmall() {
		return nil
	}
	if m.side.renaming {
		var cmd tea.Cmd
		m.side.rename, cmd = m.side.rename.Update(p)
		return cmd
	}
	if m.focus == focusSidebar {
		m.side.filter += oneLine(safetext.Sanitize(p.Content))
		m.side.cursor = 0
		return nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(p)
	return cmd
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
		if c, ok := m.side.selected(); ok {
			ti := textinput.New()
			ti.Prompt = ""
			ti.SetVirtualCursor(false)
			ti.SetWidth(max(5, m.sidebarWidth()-4))
			cmd := ti.Focus()
			ti.SetValue(c.Title) // after the width: the view scrolls to the cursor, at the end
			ti.CursorEnd()
			m.side.rename = ti
			m.side.renaming = true
			return cmd
		}
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

func (m *Model) renameKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "enter":
		m.side.renaming = false
		title := strings.TrimSpace(m.side.rename.Value())
		c, ok := m.side.selected()
		if !ok || title == "" || title == c.Title {
			return nil
		}
		return m.renameConversation(c.ID, title)
	case "esc":
		m.side.renaming = false
		return nil
	}
	var cmd tea.Cmd
	m.side.rename, cmd = m.side.rename.Update(k)
	return cmd
}

func (m *Model) openPicker() {
	m.overlay = overlayPicker
	m.picker.filter = ""
	m.picker.cursor = 0
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
	case "up":
		m.picker.cursor = max(0, m.picker.cursor-1)
	case "down":
		m.picker.cursor = min(len(list)-1, m.picker.cursor+1)
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
	case "backspace":
		if r := []rune(m.picker.filter); len(r) > 0 {
			m.picker.filter = string(r[:len(r)-1])
		}
		m.picker.cursor = 0
	default:
		if k.Text != "" && k.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
			m.picker.filter += k.Text
			m.picker.cursor = 0
		}
	}
	return nil
}

// Layout.

func (m *Model) tooSmall() bool { return m.width < minWidth || m.height < minHeight }

func (m *Model) sidebarWidth() int {
	if m.width < sidebarBreak {
		if m.focus == focusSidebar {
			return m.width - 1
		}
		return 0
	}
	return max(22, min(34, m.width/4))
}

func (m *Model) mainWidth() int {
	sw := m.sidebarWidth()
	if sw == 0 {
		return m.width
	}
	if m.width < sidebarBreak {
		return 0 // the sidebar has the whole screen
	}
	return m.width - sw - 1
}

func (m *Model) layout() {
	if w := m.mainWidth(); w > 0 {
		m.input.SetWidth(w)
	}
}

func (m *Model) bannerLines() []string {
	if m.banner == "" {
		return nil
	}
	w := max(1, m.mainWidth())
	st := m.th.noticeBanner
	prefix := "ℹ "
	if m.bannerIsErr {
		st, prefix = m.th.errBanner, "✗ "
	}
	lines := strings.Split(ansi.Wrap(prefix+m.banner, w, " "), "\n")
	if len(lines) > 2 {
		lines = lines[:2]
		lines[1] = ansi.Truncate(lines[1], w-1, "") + "…"
	}
	for i := range lines {
		lines[i] = st.Render(lines[i])
	}
	return lines
}

// transcriptHeight is the rows left for the transcript.
func (m *Model) transcriptHeight() int {
	return max(1, m.height-1 /*header*/ -1 /*status*/ -(inputHeight+1) /*input+rule*/ -len(m.bannerLines()))
}

func (m *Model) listRows() int { return max(1, m.height-5) }

// View draws the chat.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "jan chat"
	if c := m.cursor(); c != nil {
		v.Cursor = c
	}
	return v
}

// render is the whole screen as text.
func (m *Model) render() string {
	if m.width == 0 {
		return "Starting jan chat…"
	}
	if m.tooSmall() {
		return m.tooSmallView()
	}
	body := m.height - 1
	var top string
	sw, mw := m.sidebarWidth(), m.mainWidth()
	side := ""
	if sw > 0 {
		draft := m.conv == nil
		activeID := ""
		if m.conv != nil {
			activeID = m.conv.ID
		}
		streaming := ""
		if m.streaming {
			streaming = m.streamConv
		}
		st := m.th.sidebar
		if m.focus == focusSidebar {
			st = m.th.sidebarFocused
		}
		side = st.Height(body).MaxHeight(body).Render(fitBlock(m.side.view(&m.th, sw, body, m.focus == focusSidebar, activeID, streaming, draft), sw, body))
	}
	switch {
	case mw == 0:
		top = side
	case sw == 0:
		top = m.mainView(mw, body)
	default:
		top = lipgloss.JoinHorizontal(lipgloss.Top, side, m.mainView(mw, body))
	}
	return top + "\n" + m.statusLine()
}

// tooSmallView says the terminal is too small, in as many words as fit.
func (m *Model) tooSmallView() string {
	for _, msg := range []string{
		fmt.Sprintf("This terminal is too small for jan chat: it is %d×%d, and jan chat needs at least %d×%d.\n\nMake it bigger, or press ctrl+c to quit.",
			m.width, m.height, minWidth, minHeight),
		fmt.Sprintf("Terminal too small (%d×%d; needs %d×%d). Make it bigger, or ctrl+c to quit.", m.width, m.height, minWidth, minHeight),
		"Terminal too small. ctrl+c quits.",
	} {
		wrapped := ansi.Wrap(msg, max(1, m.width-2), " ")
		if lines := strings.Split(wrapped, "\n"); len(lines) <= m.height {
			return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, wrapped)
		}
	}
	return fitBlock("too small", m.width, m.height)
}

func (m *Model) mainView(w, h int) string {
	lines := make([]string, 0, h)
	lines = append(lines, m.header(w))
	th := m.transcriptHeight()
	var body []string
	switch m.overlay {
	case overlayHelp:
		body = placeBox(m.helpView(w), w, th)
	case overlayPicker:
		body = placeBox(m.pickerView(w), w, th)
	case overlayConfirm:
		body = placeBox(m.confirmView(w), w, th)
	default:
		if len(m.tr.entries) == 0 && m.tr.live == nil {
			body = placeBox(m.emptyView(w), w, th)
		} else {
			body = m.tr.view(w, th)
		}
	}
	lines = append(lines, body...)
	lines = append(lines, m.bannerLines()...)
	rule := m.th.rule
	if m.focus == focusInput && m.overlay == overlayNone {
		rule = m.th.ruleFocused
	}
	lines = append(lines, rule.Render(strings.Repeat("─", w)))
	lines = append(lines, strings.Split(m.input.View(), "\n")...)
	return fitBlock(strings.Join(lines, "\n"), w, h)
}

func (m *Model) header(w int) string {
	title := "New conversation"
	if m.conv != nil {
		title = titleOrUntitled(m.conv.Title)
	}
	if m.opening != "" {
		title = "Opening…"
	}
	right := ""
	if m.tr.offset > 0 {
		right = fmt.Sprintf("↑ %d lines · esc to follow", m.tr.offset)
	}
	left := ansi.Truncate(title, max(1, w-ansi.StringWidth(right)-1), "…")
	gap := max(1, w-ansi.StringWidth(left)-ansi.StringWidth(right))
	return m.th.title.Render(left) + strings.Repeat(" ", gap) + m.th.dim.Render(right)
}

func (m *Model) emptyView(w int) string {
	if m.opening != "" {
		return m.th.dim.Render("Loading the conversation…")
	}
	lines := []string{
		m.th.title.Render("Ask anything."),
		"",
		m.th.dim.Render("enter send · ctrl+j newline · ctrl+l model"),
		m.th.dim.Render("tab conversations · ctrl+n new · ? help"),
	}
	return strings.Join(lines, "\n")
}

func (m *Model) statusLine() string {
	var parts []string
	switch {
	case m.conn == connOffline:
		parts = append(parts, m.th.statusBad.Render("○ offline"))
	case m.conn == connConnecting:
		parts = append(parts, m.th.status.Render("◌ connecting"))
	case m.streaming && m.stopping:
		parts = append(parts, m.th.statusOK.Render("● stopping…"))
	case m.streaming:
		parts = append(parts, m.th.statusOK.Render(fmt.Sprintf("● streaming %d tokens", m.tokens)))
	default:
		parts = append(parts, m.th.statusOK.Render("● connected"))
	}
	if md, isDefault := m.currentModel(); md != "" {
		if isDefault {
			md += " (default)"
		}
		parts = append(parts, m.th.status.Render(md))
	} else if m.modelErr != nil {
		parts = append(parts, m.th.statusBad.Render("no models"))
	}
	if m.ttft > 0 {
		parts = append(parts, m.th.status.Render("TTFT "+fmtDuration(m.ttft)))
	}
	if m.tps > 0 {
		parts = append(parts, m.th.status.Render(fmt.Sprintf("%.1f tok/s", m.tps)))
	}
	left := strings.Join(parts, m.th.dim.Render(" │ "))
	right := m.th.dim.Render("? help · ctrl+c quit")
	if ansi.StringWidth(left)+ansi.StringWidth(right)+1 > m.width {
		right = ""
	}
	gap := max(1, m.width-ansi.StringWidth(left)-ansi.StringWidth(right))
	return ansi.Truncate(left+strings.Repeat(" ", gap)+right, m.width, "…")
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// cursor places the terminal's cursor in the input, or in the rename
// field while renaming.
func (m *Model) cursor() *tea.Cursor {
	if m.tooSmall() || m.overlay != overlayNone || m.width == 0 {
		return nil
	}
	if m.focus == focusSidebar && m.side.renaming && m.side.renameRow >= 0 {
		c := m.side.rename.Cursor()
		if c != nil {
			c.X += 2 // the row's mark
			c.Y += m.side.renameRow
		}
		return c
	}
	if m.focus != focusInput {
		return nil
	}
	c := m.input.Cursor()
	if c == nil {
		return nil
	}
	x := 0
	if sw := m.sidebarWidth(); sw > 0 {
		x = sw + 1
	}
	y := m.height - 1 - inputHeight
	c.X += x
	c.Y += y
	return c
}

// fitBlock pads or cuts text to exactly w×h cells.
func fitBlock(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		switch n := ansi.StringWidth(l); {
		case n > w:
			l = ansi.Truncate(l, w, "")
		case n < w:
			l += strings.Repeat(" ", w-n)
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// placeBox centres a block in w×h and returns its lines.
func placeBox(box string, w, h int) []string {
	return strings.Split(lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, box), "\n")
}
