package server

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// sseWriter is the one SSE writer: `data: <json>\n\n` events flushed one by
// one, `: keepalive` comments during silences, and `data: [DONE]` at the end.
// It is safe for the keepalive timer and the handler to write concurrently.
type sseWriter struct {
	mu       sync.Mutex
	w        http.ResponseWriter
	rc       *http.ResponseController
	idle     bool // nothing written since the last keepalive tick
	failed   bool // the client went away, or the stream was closed
	interval time.Duration
	timer    *time.Timer // a timer, not a goroutine: streams stay cheap
	buf      []byte      // one event being written
	// first, when set, is a member (`"name":value`) the next data event's
	// JSON object gains: the conversation of a chat goes in its first chunk.
	first []byte
	// id, when set, gives each data event its SSE id (a run's: the bytes
	// of answer sent so far, where a resumed stream picks up).
	id func() string
}

var (
	sseDataPrefix = []byte("data: ")
	sseEventEnd   = []byte("\n\n")
	sseDone       = []byte("data: [DONE]\n\n")
	sseKeepalive  = []byte(": keepalive\n\n")
)

// startSSE sends the event-stream headers with status 200 and arms the
// keepalive timer. Call close when the stream ends.
func startSSE(w http.ResponseWriter, keepalive time.Duration) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	// No flush here: the headers leave with the first event, in one packet,
	// which is what a client waiting for the first token wants.
	s := &sseWriter{w: w, rc: http.NewResponseController(w), interval: keepalive, idle: true}
	if keepalive > 0 {
		s.mu.Lock()
		s.timer = time.AfterFunc(keepalive, s.tick)
		s.mu.Unlock()
	}
	return s
}

// tick sends a keepalive comment when a whole interval passed in silence.
func (s *sseWriter) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return
	}
	if s.idle {
		s.writeLocked(sseKeepalive)
	}
	s.idle = true
	s.timer.Reset(s.interval)
}

// data sends one event whose payload is already JSON.
func (s *sseWriter) data(payload []byte) { s.send(payload, true) }

// send writes one event. With flush false it stays in the response buffer
// to go out with the next one: when the engine has already sent more, one
// write for both is cheaper for everyone than one per event.
func (s *sseWriter) send(payload []byte, flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return
	}
	s.idle = false
	if s.first != nil {
		payload, s.first = withMember(payload, s.first), nil
	}
	// One Write per event, from a buffer reused across events.
	s.buf = s.buf[:0]
	if s.id != nil {
		s.buf = append(append(append(s.buf, "id: "...), s.id()...), '\n')
	}
	s.buf = append(append(append(s.buf, sseDataPrefix...), payload...), sseEventEnd...)
	if _, err := s.w.Write(s.buf); err != nil { // buffered by net/http: no syscall yet
		s.failed = true
		return
	}
	if flush {
		if err := s.rc.Flush(); err != nil {
			s.failed = true
		}
	}
}

// named sends one event with a name — `event: <name>` then `data:
// <payload>` — as the Responses API streams.
func (s *sseWriter) named(name string, payload []byte, flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return
	}
	s.idle = false
	s.buf = append(append(append(s.buf[:0], "event: "...), name...), '\n')
	s.buf = append(append(append(s.buf, sseDataPrefix...), payload...), sseEventEnd...)
	if _, err := s.w.Write(s.buf); err != nil {
		s.failed = true
		return
	}
	if flush {
		if err := s.rc.Flush(); err != nil {
			s.failed = true
		}
	}
}

// event marshals v and sends it.
func (s *sseWriter) event(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.data(b)
}

// done sends the terminator.
func (s *sseWriter) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeLocked(sseDone)
}

func (s *sseWriter) writeLocked(b []byte) {
	if s.failed {
		return
	}
	if _, err := s.w.Write(b); err != nil {
		s.failed = true
		return
	}
	if err := s.rc.Flush(); err != nil {
		s.failed = true
	}
}

// close disarms the keepalive; the response ends when the handler returns.
func (s *sseWriter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true // no write may reach the ResponseWriter after the handler returns
	if s.timer != nil {
		s.timer.Stop()
	}
}
