package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

// turn is the answer being streamed: one at a time.
type turn struct {
	streaming  bool
	streamID   int    // the stream's messages carry it: a stale one's are dropped
	streamConv string // the conversation it answers
	runID      string
	stopping   bool // esc pressed: cancel once the run id is known
	stream     *client.Stream
	events     chan tea.Msg
	pend       *pending // the prompt on its way, until the answer ends
	finalRun   *client.Run
	streamErr  *client.Error
	tokens     int
	firstToken time.Time
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
		if m.editing != nil && convID != "" {
			p.replace = m.editing // the prompt edited and its answer go first
			m.dropEdited()
		}
	} else {
		p.started = m.opts.Now()
		if p.model != model {
			p.model, p.runKey = model, client.NewIdempotencyKey()
		}
	}
	m.pend = p
	m.editing = nil
	m.input.remember(text)
	save := m.rememberPrompt(text)
	m.input.Reset()
	if !p.posted {
		m.tr.add(&entry{role: client.RoleUser, text: safetext.Sanitize(text)})
	}
	return tea.Batch(m.start(p), save)
}

// start sends p and opens its answer's stream.
func (m *Model) start(p *pending) tea.Cmd {
	m.tr.offset = 0
	m.streamID++
	p.streamID, p.queued = m.streamID, false
	m.tr.noteLastUser("")
	m.streaming, m.streamConv, m.runID, m.stopping = true, p.convID, "", false
	m.finalRun, m.streamErr, m.tokens, m.firstToken = nil, nil, 0, time.Time{}
	m.tr.live = &live{model: p.model}
	m.clearBanner()
	return tea.Batch(m.send(p), waitTick(m.streamID))
}

// figures are an answer's time to first token and tokens per second.
type figures struct {
	ttft time.Duration
	tps  float64
}

// waitTickMsg turns the spinner while an answer's first token is awaited.
type waitTickMsg struct{ id int }

func waitTick(id int) tea.Cmd {
	return tea.Tick(100*time.Millisecond, func(time.Time) tea.Msg { return waitTickMsg{id} })
}

const queuedNote = "⏳ Not sent yet: it goes when the server is back · esc takes it back"

func (m *Model) onSent(msg sentMsg) tea.Cmd {
	var save tea.Cmd
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
		save = m.rememberConversation(c.ID)
	}
	if e := m.tr.back(0); msg.msgID != "" && e != nil && e.role == client.RoleUser && e.id == "" {
		e.id = msg.msgID // stored: it can be edited now
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
			m.tr.noteLastUser(queuedNote)
			return tea.Batch(save, m.offline("Not sent yet", msg.err))
		}
		if !m.pend.posted && m.tr.lastIsUser() {
			m.tr.dropLast()
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
		return save
	}
	m.conn = connOK
	m.stream, m.events = msg.stream, msg.events
	m.runID = msg.runID
	cmds := []tea.Cmd{listen(m.events), save}
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
		m.tr.add(e)
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
			f := m.figures[m.streamConv]
			f.tps = float64(tokens-1) / d.Seconds()
			m.figures[m.streamConv] = f
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
	m.tr.noteLastUser("")
	if p.posted {
		m.setNotice("The server has that message already; ctrl+r asks for its answer.")
		return
	}
	if m.tr.lastIsUser() {
		m.tr.dropLast()
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
	last, prev := m.tr.back(0), m.tr.back(1)
	if m.conv == nil || m.opening != "" || last == nil {
		return nil
	}
	model, isDefault := m.currentModel()
	if isDefault {
		model = ""
	}
	p := newPending("", m.conv.ID, model, m.opts.Now())
	p.posted = true
	switch {
	case last.runID != "":
		m.tr.dropLast()
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
	case last.role == client.RoleAssistant && prev != nil && prev.role == client.RoleUser:
		if last.id == "" {
			m.setNotice("That answer is not stored: reopen the conversation to regenerate it.")
			return nil
		}
		p.text, p.replace = prev.text, []string{last.id}
		m.tr.dropLast()
	default:
		return nil
	}
	m.pend = p
	return m.start(p)
}

// editLast puts the last prompt in the input to be edited; sending it
// replaces that prompt and its answer in the conversation (/edit).
func (m *Model) editLast() tea.Cmd {
	if m.streaming || m.conv == nil {
		m.setNotice("Nothing to edit: send a prompt first (or wait for the answer).")
		return nil
	}
	var ids []string
	e := m.tr.back(0)
	if e != nil && e.role == client.RoleAssistant {
		ids = append(ids, e.id)
		e = m.tr.back(1)
	}
	if e == nil || e.role != client.RoleUser || e.id == "" || slices.Contains(ids, "") {
		m.setNotice("The last prompt is not stored yet: reopen the conversation to edit it.")
		return nil
	}
	m.editing = append(ids, e.id)
	m.input.SetValue(e.text)
	m.input.CursorEnd()
	m.setNotice("Editing the last prompt: enter replaces it and its answer; esc keeps them.")
	return m.input.Focus()
}

// dropEdited removes the prompt being edited (and its answer) from the
// transcript: the edited prompt takes their place.
func (m *Model) dropEdited() {
	for range m.editing {
		m.tr.dropLast()
	}
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
