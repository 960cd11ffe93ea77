package tui

import (
	"context"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

// Messages that carry the results of I/O back to Update.
type (
	conversationsMsg struct {
		page   *client.Page[client.Conversation]
		params client.ListParams
		reset  bool
		err    error
	}
	modelsMsg struct {
		models []client.Model
		err    error
	}
	// projectsMsg: the caller's projects, for the sidebar's names (an
	// error leaves them unnamed: the server may predate projects).
	projectsMsg struct {
		projects []client.Project
	}
	openedMsg struct {
		conv     *client.Conversation
		messages []client.Message
		err      error
	}
	// sentMsg: the message is stored and the run's stream is open (or a
	// step failed: err, with created set when the conversation exists).
	sentMsg struct {
		created *client.Conversation
		convID  string
		msgID   string // the prompt's stored id, when this send stored it
		stream  *client.Stream
		runID   string
		events  chan tea.Msg
		err     error
	}
	// streamBatchMsg is the text that arrived during one batch interval.
	streamBatchMsg struct {
		id     int
		text   string
		deltas int
		first  time.Time // when the batch's first token arrived
	}
	streamRunMsg struct {
		id  int
		run *client.Run
	}
	streamErrorMsg struct {
		id  int
		err *client.Error
	}
	streamEndMsg struct {
		id     int
		err    error
		lastID string // the stream's last event id: the bytes of answer got
	}
	cancelledMsg struct {
		err error
	}
	renamedMsg struct {
		conv *client.Conversation
		err  error
	}
	deletedMsg struct {
		id  string
		err error
	}
	noticeMsg string
	retryMsg  struct{}
)

func (m *Model) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.base, 30*time.Second)
}

func (m *Model) loadConversations(reset bool) tea.Cmd {
	p := client.ListParams{Limit: pageSize}
	if !reset && m.side.next != nil {
		p = *m.side.next
	}
	m.side.loading = true
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		page, err := api.ListConversations(ctx, p)
		return conversationsMsg{page: page, params: p, reset: reset, err: err}
	}
}

func (m *Model) loadModels() tea.Cmd {
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		models, err := api.Models(ctx)
		return modelsMsg{models: models, err: err}
	}
}

func (m *Model) loadProjects() tea.Cmd {
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		projects, _ := api.ListProjects(ctx)
		return projectsMsg{projects: projects}
	}
}

func (m *Model) openConversation(id string) tea.Cmd {
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		conv, err := api.GetConversation(ctx, id)
		if err != nil {
			return openedMsg{err: err}
		}
		msgs, err := api.AllMessages(ctx, id)
		return openedMsg{conv: conv, messages: msgs, err: err}
	}
}

// pending is a prompt on its way: its idempotency keys are kept, so sending
// it again after a failure never stores it twice.
type pending struct {
	text     string
	convID   string // "" until the conversation exists
	convKey  string
	msgKey   string
	runKey   string
	posted   bool     // the message is stored
	replace  []string // stored messages to delete first: an answer regenerated, a prompt edited and its answer
	resume   *entry   // a cut answer to pick up instead of sending anything
	queued   bool     // the server was unreachable: sent when it answers again
	model    string
	started  time.Time
	streamID int
}

func newPending(text, convID, model string, now time.Time) *pending {
	return &pending{text: text, convID: convID, model: model, started: now,
		convKey: client.NewIdempotencyKey(), msgKey: client.NewIdempotencyKey(), runKey: client.NewIdempotencyKey()}
}

// send stores the prompt (creating the conversation first when it is a
// draft) and opens the run's stream; a pump then feeds its events, in
// batches, to Update.
func (m *Model) send(p *pending) tea.Cmd {
	api := m.opts.Client
	interval := m.opts.BatchInterval
	base := m.base
	id := p.streamID
	now := m.opts.Now
	project := ""
	if m.opts.Project != nil {
		project = m.opts.Project.ID
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(base, 30*time.Second)
		defer cancel()
		if e := p.resume; e != nil {
			// The run went on without us: follow it after what arrived.
			after := e.after
			if after == "" {
				after = "0"
			}
			s, err := api.ResumeRun(base, p.convID, e.runID, after)
			if err != nil {
				return sentMsg{convID: p.convID, err: err}
			}
			events := make(chan tea.Msg, 16)
			go pump(base, s, events, id, interval, now)
			return sentMsg{convID: p.convID, stream: s, runID: e.runID, events: events}
		}
		for len(p.replace) > 0 { // an answer regenerated, or a prompt edited and its answer
			if err := api.DeleteItem(ctx, p.convID, p.replace[0]); err != nil && client.StatusCode(err) != 404 {
				if p.posted {
					err = errPosted{err}
				}
				return sentMsg{convID: p.convID, err: err}
			}
			p.replace = p.replace[1:]
		}
		var created *client.Conversation
		convID := p.convID
		if convID == "" {
			c, err := api.CreateConversation(ctx, client.ConversationParams{Title: safetext.Title(p.text), ProjectID: project}, p.convKey)
			if err != nil {
				return sentMsg{err: err}
			}
			created, convID = c, c.ID
		}
		msgID := ""
		if !p.posted {
			msg, err := api.CreateMessage(ctx, convID, client.MessageParams{Role: client.RoleUser, Content: p.text}, p.msgKey)
			if err != nil {
				return sentMsg{created: created, convID: convID, err: err}
			}
			msgID = msg.ID
		}
		// The stream outlives this command: it is bound to base, not ctx.
		s, err := api.StreamRun(base, convID, client.RunParams{Model: p.model, Background: true}, p.runKey) // resumed if the connection drops
		if err != nil {
			return sentMsg{created: created, convID: convID, msgID: msgID, err: errPosted{err}}
		}
		events := make(chan tea.Msg, 16)
		go pump(base, s, events, id, interval, now)
		return sentMsg{created: created, convID: convID, msgID: msgID, stream: s, runID: s.RunID(), events: events}
	}
}

// errPosted wraps a failure that came after the message was stored.
type errPosted struct{ error }

func (e errPosted) Unwrap() error { return e.error }

// pump reads a stream and sends its events to out: text deltas gathered
// for interval, run and error events as they come, then streamEndMsg.
// Sends block while Update lags, which slows the reading but never drops
// a token; ctx ending (the chat quits) stops it.
func pump(ctx context.Context, s *client.Stream, out chan<- tea.Msg, id int, interval time.Duration, now func() time.Time) {
	defer close(out)
	send := func(msg tea.Msg) bool {
		select {
		case out <- msg:
			return true
		case <-ctx.Done():
			return false
		}
	}
	events := make(chan client.Event, 64)
	go func() {
		defer close(events)
		for s.Next() {
			select {
			case events <- s.Event():
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var (
		buf    strings.Builder
		deltas int
		first  time.Time
	)
	flush := func() bool {
		if buf.Len() == 0 {
			return true
		}
		ok := send(streamBatchMsg{id: id, text: buf.String(), deltas: deltas, first: first})
		buf.Reset()
		deltas, first = 0, time.Time{}
		return ok
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if flush() {
					send(streamEndMsg{id: id, err: s.Err(), lastID: s.LastEventID()})
				}
				return
			}
			switch ev.Type {
			case client.EventDelta:
				if ev.Text != "" {
					if deltas == 0 {
						first = now()
					}
					buf.WriteString(ev.Text)
					deltas++
				}
			case client.EventRun:
				if !flush() || !send(streamRunMsg{id: id, run: ev.Run}) {
					return
				}
			case client.EventError:
				if !flush() || !send(streamErrorMsg{id: id, err: ev.Error}) {
					return
				}
			}
		case <-tick.C:
			if !flush() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// listen waits for the next message of a stream's pump.
func listen(events <-chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		msg, ok := <-events
		if !ok {
			return nil
		}
		return msg
	}
}

func (m *Model) cancelRun(convID, runID string) tea.Cmd {
	return m.cancelRunWithin(convID, runID, 30*time.Second)
}

// cancelRunWithin asks the server to stop a run, giving up after d.
func (m *Model) cancelRunWithin(convID, runID string, d time.Duration) tea.Cmd {
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(m.base, d)
		defer cancel()
		_, err := api.CancelRun(ctx, convID, runID)
		return cancelledMsg{err: err}
	}
}

func (m *Model) renameConversation(id, title string) tea.Cmd {
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		c, err := api.UpdateConversation(ctx, id, client.ConversationUpdate{Title: &title})
		return renamedMsg{conv: c, err: err}
	}
}

func (m *Model) deleteConversation(id string) tea.Cmd {
	api := m.opts.Client
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		return deletedMsg{id: id, err: api.DeleteConversation(ctx, id)}
	}
}

func waitNotice(ch <-chan string) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		s, ok := <-ch
		if !ok {
			return nil
		}
		return noticeMsg(s)
	}
}
