package responses

import (
	"encoding/json"
	"strconv"

	"github.com/janhq/jan/internal/inference"
)

// Event is one event of a Responses stream: its type (the SSE event name)
// and its data, a JSON object that carries the type and sequence_number
// too.
type Event struct {
	Seq  int
	Type string
	Data []byte
}

// Terminal event types: a stream ends with exactly one of them.
const (
	EventCompleted  = "response.completed"
	EventIncomplete = "response.incomplete"
	EventFailed     = "response.failed"
)

// Stream turns an engine's streamed answer into Responses events and
// output items: text becomes one assistant message item (created at the
// first text), each tool call a function_call item, numbered in the order
// they appear (output_index), every event numbered from 0 without a gap
// (sequence_number). It is not safe for concurrent use.
type Stream struct {
	newID func(prefix string) string
	seq   int
	out   []Item
	msg   int         // index in out of the message item; -1 before text
	calls map[int]int // the engine's tool call index → index in out
	added []Event     // Add's result, reused
	// Transient says the caller is done with Add's events before the next
	// Add (it writes them straight to the client, keeping none): their data
	// is then written in scratch, reused.
	Transient bool
	scratch   []byte
	// deltaMid is the part of a text delta event between its sequence
	// number and its text.
	deltaMid []byte
}

// NewStream starts a stream; newID makes item ids ("msg", "fc", "call").
func NewStream(newID func(prefix string) string) *Stream {
	return &Stream{newID: newID, msg: -1, calls: map[int]int{}}
}

// event is the next event: its type and sequence number, then the
// members m.
func (s *Stream) event(typ string, m members) Event {
	ev := newEvent(s.seq, typ, m)
	s.seq++
	return ev
}

// newEvent is event number seq. Events are written by hand, not with
// encoding/json: they carry the text several times over and go out by the
// hundred.
func newEvent(seq int, typ string, m members) Event {
	b := make([]byte, 0, 48+len(typ)+len(m))
	b = append(b, `{"type":"`...)
	b = append(b, typ...) // event types need no escaping
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, m...)
	return Event{Seq: seq, Type: typ, Data: append(b, '}')}
}

// members are JSON object members, each written with a leading comma.
type members []byte

func (m members) str(name, v string) members {
	return inference.AppendJSONString(append(append(append(m, `,"`...), name...), `":`...), v)
}

func (m members) int(name string, v int) members {
	return strconv.AppendInt(append(append(append(m, `,"`...), name...), `":`...), int64(v), 10)
}

func (m members) raw(name string, v []byte) members {
	return append(append(append(append(m, `,"`...), name...), `":`...), v...)
}

// itemAt is the members that place an event: item_id, output_index and,
// for a message, content_index.
func (s *Stream) itemAt(i int) members {
	m := members(nil).str("item_id", s.out[i].ID).int("output_index", i)
	if s.out[i].Type == TypeMessage {
		m = m.int("content_index", 0)
	}
	return m
}

// Begin is response.created and response.in_progress, carrying resp (the
// response object in progress).
func (s *Stream) Begin(resp json.RawMessage) []Event {
	m := members(nil).raw("response", resp)
	return []Event{s.event("response.created", m), s.event("response.in_progress", m)}
}

// Add is the events of one chunk: acc has just folded it (acc.Delta says
// what it added; acc.ToolCalls has the calls' ids and names). The slice is
// reused by the next Add, and so is its events' data when s.Transient.
func (s *Stream) Add(acc *inference.Accumulator) []Event {
	evs := s.added[:0]
	defer func() { s.added = evs[:0] }()
	d := acc.Delta
	if d.Content != "" {
		if s.msg < 0 {
			s.msg = len(s.out)
			s.out = append(s.out, Item{Type: TypeMessage, ID: s.newID("msg"), Role: "assistant", Status: "in_progress"})
			// The item as added has no part yet: content_part.added brings it
			// (the SDKs' accumulators append the part at its index).
			added := members(nil).str("type", TypeMessage).str("id", s.out[s.msg].ID).str("status", "in_progress").
				str("role", "assistant").raw("content", []byte("[]"))
			added[0] = '{'
			evs = append(evs, s.event("response.output_item.added", members(nil).int("output_index", s.msg).raw("item", append(added, '}'))),
				s.event("response.content_part.added", s.itemAt(s.msg).raw("part", appendPart(nil, "output_text", []byte(`""`)))))
		}
		it := &s.out[s.msg]
		it.Text = acc.Content // all of it: the one message item has all the text
		evs = append(evs, s.textDelta(it.ID, d.Content))
	}
	for _, tc := range d.ToolCalls {
		i, ok := s.calls[tc.Index]
		if !ok {
			call := acc.ToolCalls[tc.Index]
			i = len(s.out)
			s.calls[tc.Index] = i
			callID := call.ID
			if callID == "" {
				callID = s.newID("call")
			}
			s.out = append(s.out, Item{Type: TypeFunctionCall, ID: s.newID("fc"), CallID: callID, Name: call.Name, Status: "in_progress"})
			evs = append(evs, s.event("response.output_item.added", members(nil).int("output_index", i).raw("item", s.out[i].appendJSON(nil))))
		}
		if tc.Arguments != "" {
			it := &s.out[i]
			it.Arguments = acc.ToolCalls[tc.Index].Arguments
			evs = append(evs, s.event("response.function_call_arguments.delta", s.itemAt(i).str("delta", tc.Arguments)))
		}
	}
	return evs
}

// textDelta writes the most frequent event by hand: it goes out once per
// token. What follows its sequence number is the same for every delta of
// the message but the text: that part is made once.
func (s *Stream) textDelta(itemID, delta string) Event {
	if s.deltaMid == nil {
		mid := append([]byte(`,"item_id":`), inference.AppendJSONString(nil, itemID)...)
		mid = append(mid, `,"output_index":`...)
		mid = strconv.AppendInt(mid, int64(s.msg), 10)
		s.deltaMid = append(mid, `,"content_index":0,"delta":`...)
	}
	const head, tail = `{"type":"response.output_text.delta","sequence_number":`, `,"logprobs":[]}`
	b := s.scratch[:0]
	if !s.Transient {
		b = make([]byte, 0, len(head)+8+len(s.deltaMid)+len(delta)+8+len(tail))
	}
	b = append(b, head...)
	b = strconv.AppendInt(b, int64(s.seq), 10)
	b = append(b, s.deltaMid...)
	b = inference.AppendJSONString(b, delta)
	b = append(b, tail...)
	if s.Transient {
		s.scratch = b
	}
	ev := Event{Seq: s.seq, Type: "response.output_text.delta", Data: b}
	s.seq++
	return ev
}

// Close ends every item, marked status (completed, or incomplete when the
// answer was cut short): the done events of each, in output order.
func (s *Stream) Close(status string) []Event {
	var evs []Event
	for i := range s.out {
		it := &s.out[i]
		it.Status = status
		switch it.Type {
		case TypeMessage:
			text := inference.AppendJSONString(nil, it.Text) // three events carry it
			evs = append(evs,
				s.event("response.output_text.done", s.itemAt(i).raw("text", text).raw("logprobs", []byte("[]"))),
				s.event("response.content_part.done", s.itemAt(i).raw("part", appendPart(nil, "output_text", text))))
		case TypeFunctionCall:
			evs = append(evs, s.event("response.function_call_arguments.done", s.itemAt(i).str("name", it.Name).str("arguments", it.Arguments)))
		}
		evs = append(evs, s.event("response.output_item.done", members(nil).int("output_index", i).raw("item", it.appendJSON(nil))))
	}
	return evs
}

// Output is the output items so far.
func (s *Stream) Output() []Item { return s.out }

// Text is the output's text: what an SDK's output_text shows.
func (s *Stream) Text() string {
	if s.msg < 0 {
		return ""
	}
	return s.out[s.msg].Text
}

// End is the one terminal event (EventCompleted, EventIncomplete or
// EventFailed), carrying resp, the response in its final state.
func (s *Stream) End(typ string, resp json.RawMessage) Event {
	return s.event(typ, members(nil).raw("response", resp))
}

// Terminal is a terminal event numbered seq: one that replaces an End
// not sent, or ends a stream whose Stream is gone (a response recovered
// after its process died).
func Terminal(seq int, typ string, resp json.RawMessage) Event {
	return newEvent(seq, typ, members(nil).raw("response", resp))
}
