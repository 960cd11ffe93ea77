package responses

import (
	"encoding/json"
	"strconv"
	"strings"

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
	// grown is the text or arguments of each item of out, by index:
	// the item's field is a view of it, so appends stay linear.
	grown map[int]*strings.Builder
}

// NewStream starts a stream; newID makes item ids ("msg", "fc", "call").
func NewStream(newID func(prefix string) string) *Stream {
	return &Stream{newID: newID, msg: -1, calls: map[int]int{}, grown: map[int]*strings.Builder{}}
}

func (s *Stream) event(typ string, fields any) Event {
	ev := newEvent(s.seq, typ, fields)
	s.seq++
	return ev
}

func newEvent(seq int, typ string, fields any) Event {
	b, _ := json.Marshal(fields) // fixed shapes
	// The type and sequence number lead every event: splice them in front.
	head := `{"type":` + strconv.Quote(typ) + `,"sequence_number":` + strconv.Itoa(seq)
	if len(b) > 2 {
		head += ","
	}
	return Event{Seq: seq, Type: typ, Data: append([]byte(head), b[1:]...)}
}

// Begin is response.created and response.in_progress, carrying resp (the
// response object in progress).
func (s *Stream) Begin(resp json.RawMessage) []Event {
	return []Event{
		s.event("response.created", map[string]json.RawMessage{"response": resp}),
		s.event("response.in_progress", map[string]json.RawMessage{"response": resp}),
	}
}

// Add is the events of one chunk: acc has just folded it (acc.Delta says
// what it added; acc.ToolCalls has the calls' ids and names).
func (s *Stream) Add(acc *inference.Accumulator) []Event {
	var evs []Event
	d := acc.Delta
	if d.Content != "" {
		if s.msg < 0 {
			s.msg = len(s.out)
			s.out = append(s.out, Item{Type: TypeMessage, ID: s.newID("msg"), Role: "assistant", Status: "in_progress"})
			evs = append(evs, s.event("response.output_item.added", map[string]any{"output_index": s.msg, "item": s.out[s.msg]}),
				s.event("response.content_part.added", map[string]any{"item_id": s.out[s.msg].ID, "output_index": s.msg, "content_index": 0,
					"part": textPart{Type: "output_text", Text: "", Annotations: []any{}}}))
		}
		it := &s.out[s.msg]
		it.Text = s.grow(s.msg, d.Content)
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
			evs = append(evs, s.event("response.output_item.added", map[string]any{"output_index": i, "item": s.out[i]}))
		}
		if tc.Arguments != "" {
			it := &s.out[i]
			it.Arguments = s.grow(i, tc.Arguments)
			evs = append(evs, s.event("response.function_call_arguments.delta", map[string]any{"item_id": it.ID, "output_index": i, "delta": tc.Arguments}))
		}
	}
	return evs
}

// grow appends piece to the text of out[i] and returns it all.
func (s *Stream) grow(i int, piece string) string {
	b := s.grown[i]
	if b == nil {
		b = &strings.Builder{}
		s.grown[i] = b
	}
	b.WriteString(piece)
	return b.String()
}

// textDelta writes the most frequent event by hand: it goes out once per
// token.
func (s *Stream) textDelta(itemID, delta string) Event {
	b := make([]byte, 0, 160+len(delta))
	b = append(b, `{"type":"response.output_text.delta","sequence_number":`...)
	b = strconv.AppendInt(b, int64(s.seq), 10)
	b = append(b, `,"item_id":`...)
	b = strconv.AppendQuote(b, itemID)
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(s.msg), 10)
	b = append(b, `,"content_index":0,"delta":`...)
	b = inference.AppendJSONString(b, delta)
	b = append(b, `,"logprobs":[]}`...)
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
			evs = append(evs,
				s.event("response.output_text.done", map[string]any{"item_id": it.ID, "output_index": i, "content_index": 0, "text": it.Text, "logprobs": []any{}}),
				s.event("response.content_part.done", map[string]any{"item_id": it.ID, "output_index": i, "content_index": 0,
					"part": textPart{Type: "output_text", Text: it.Text, Annotations: []any{}}}))
		case TypeFunctionCall:
			evs = append(evs, s.event("response.function_call_arguments.done", map[string]any{"item_id": it.ID, "output_index": i,
				"name": it.Name, "arguments": it.Arguments}))
		}
		evs = append(evs, s.event("response.output_item.done", map[string]any{"output_index": i, "item": *it}))
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
	return s.event(typ, map[string]json.RawMessage{"response": resp})
}

// Terminal is a terminal event numbered seq: one that replaces an End
// not sent, or ends a stream whose Stream is gone (a response recovered
// after its process died).
func Terminal(seq int, typ string, resp json.RawMessage) Event {
	return newEvent(seq, typ, map[string]json.RawMessage{"response": resp})
}
