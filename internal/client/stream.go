package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Stream is a server-sent event stream of a run or a chat completion. Read
// it like a bufio.Scanner:
//
//	for s.Next() {
//		ev := s.Event()
//		…
//	}
//	if err := s.Err(); err != nil { … }
//
// Close it when done; closing early tells the server the client left (a
// run keeps its partial answer). Use Client.CancelRun to stop a run on
// purpose.
type Stream struct {
	res   *http.Response
	rd    *bufio.Reader
	runID string
	ev    Event
	err   error
	done  bool
	data  bytes.Buffer

	// A run's stream resumes where it broke: lastID is the SSE id of the
	// last event read, resume reopens the stream after it.
	ctx       context.Context
	lastID    string
	pendingID string
	resume    func(ctx context.Context, after string) (*http.Response, error)
	skipRun   bool // a resumed stream repeats the run object first: not news
}

func (c *Client) openStream(ctx context.Context, r *request) (*Stream, error) {
	res, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	s := &Stream{res: res, rd: bufio.NewReaderSize(res.Body, 8<<10), runID: res.Header.Get("X-Run-Id"), ctx: ctx}
	if ct := res.Header.Get("Content-Type"); !bytes.HasPrefix([]byte(ct), []byte("text/event-stream")) {
		// A replayed non-stream answer, or a server that ignored stream.
		res.Body.Close()
		return nil, fmt.Errorf("%s %s: expected an event stream, got %q", r.method, r.path, ct)
	}
	return s, nil
}

// RunID is the run's id (the X-Run-Id header), known before the first event.
func (s *Stream) RunID() string { return s.runID }

// Replayed reports whether the server replayed a stored answer for the
// request's Idempotency-Key instead of running it again.
func (s *Stream) Replayed() bool { return s.res.Header.Get("Idempotent-Replayed") == "true" }

// Next reads the next event; false at the end of the stream or on error.
func (s *Stream) Next() bool {
	if s.done {
		return false
	}
	for {
		data, err := s.readEvent()
		if err != nil {
			if s.reconnect() {
				continue
			}
			s.done = true
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = ErrStreamCut
			}
			s.err = err
			return false
		}
		if string(data) == "[DONE]" {
			s.done = true
			return false
		}
		ev, err := decodeEvent(data)
		if err != nil {
			continue // an event of a kind this client does not know
		}
		if s.skipRun && ev.Type == EventRun {
			s.skipRun = false
			continue
		}
		s.ev = ev
		return true
	}
}

// LastEventID is the SSE id of the last event read ("" when the server
// sends none).
func (s *Stream) LastEventID() string { return s.lastID }

// reconnect reopens a run's stream after the last event read, when the
// connection broke (not when ctx ended): five tries over about 8 s.
func (s *Stream) reconnect() bool {
	if s.resume == nil || s.lastID == "" || s.ctx == nil {
		return false
	}
	wait := 250 * time.Millisecond
	for range 5 {
		select {
		case <-s.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait *= 2
		res, err := s.resume(s.ctx, s.lastID)
		if err != nil {
			continue
		}
		s.res.Body.Close()
		s.res, s.rd, s.skipRun = res, bufio.NewReaderSize(res.Body, 8<<10), true
		return true
	}
	return false
}

// Event is the event Next read.
func (s *Stream) Event() Event { return s.ev }

// Err is why the stream stopped early: ErrStreamCut when the connection
// dropped before [DONE], the context's error when it was cancelled. Error
// events the server sent are events, not Err.
func (s *Stream) Err() error { return s.err }

// Close releases the connection.
func (s *Stream) Close() error {
	s.done = true
	return s.res.Body.Close()
}

// readEvent returns the data of the next event (data lines joined by \n),
// skipping comments and fields other than data.
func (s *Stream) readEvent() ([]byte, error) {
	s.data.Reset()
	have := false
	for {
		line, err := s.readLine()
		if err != nil {
			if have && errors.Is(err, io.EOF) {
				return s.data.Bytes(), nil
			}
			return nil, err
		}
		if len(line) == 0 {
			if have {
				if s.pendingID != "" {
					s.lastID = s.pendingID
				}
				return s.data.Bytes(), nil
			}
			continue
		}
		if line[0] == ':' {
			continue // keepalive comment
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) == "id" {
			s.pendingID = string(bytes.TrimPrefix(value, []byte(" ")))
			continue
		}
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if have {
			s.data.WriteByte('\n')
		}
		s.data.Write(value)
		have = true
	}
}

// readLine reads one line of any length without its line ending.
func (s *Stream) readLine() ([]byte, error) {
	line, err := s.rd.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.rd.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// decodeEvent tells a run object, a chunk and an error event apart.
func decodeEvent(data []byte) (Event, error) {
	raw := append(json.RawMessage(nil), data...)
	var probe struct {
		Object string          `json:"object"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return Event{}, err
	}
	switch {
	case probe.Object == "run":
		var run Run
		if err := json.Unmarshal(data, &run); err != nil {
			return Event{}, err
		}
		return Event{Type: EventRun, Run: &run, Data: raw}, nil
	case probe.Object == "chat.completion.chunk":
		var ch ChatCompletionChunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return Event{}, err
		}
		ev := Event{Type: EventDelta, Chunk: &ch, Data: raw}
		for _, c := range ch.Choices {
			if c.Index == 0 {
				ev.Text += c.Delta.Content
			}
		}
		return ev, nil
	case len(probe.Error) > 0 && string(probe.Error) != "null":
		e, ok := parseError(data)
		if !ok {
			return Event{}, errors.New("malformed error event")
		}
		return Event{Type: EventError, Error: e, Data: raw}, nil
	}
	return Event{}, fmt.Errorf("unknown event object %q", probe.Object)
}
