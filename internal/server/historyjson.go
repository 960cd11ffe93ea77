package server

import (
	"encoding/json"
	"sync"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// historyJSON keeps, per conversation, its stored history as the engine
// request's JSON, so that a chat turn does not encode the whole history
// again on every request (docs/BENCHMARKS.md).
//
// Stored messages never change: a conversation's messages are only
// appended or deleted (the store has no update of a message). So a history
// whose first message and whose message at the entry's length are the ones
// the entry was encoded from starts with the messages encoded (message ids
// are unique; a deletion before that point moves another message there),
// and the entry is extended with the rest. Any other history replaces the
// entry. The encoded bytes are handed out read-only: an entry grows past
// the length any caller was given.
type historyJSON struct {
	mu sync.Mutex
	m  map[string]encodedHistory // conversation id →
}

type encodedHistory struct {
	firstID, lastID string // the first and the last message encoded
	n               int    // messages encoded
	b               []byte // their objects, comma-separated, no brackets
}

// maxEncodedHistories bounds the conversations kept, as the store's cache
// is bounded: past it, the map starts over.
const maxEncodedHistories = 2048

// encoded is history's messages as comma-separated JSON objects
// (encodeHistory), read-only.
func (h *historyJSON) encoded(convID string, history []store.Message) []byte {
	if len(history) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[convID]
	if !ok || e.n > len(history) || history[0].ID != e.firstID || history[e.n-1].ID != e.lastID || e.firstID == "" {
		if h.m == nil || len(h.m) >= maxEncodedHistories {
			h.m = make(map[string]encodedHistory)
		}
		e = encodedHistory{firstID: history[0].ID}
	}
	e.b = encodeHistory(e.b, history[e.n:])
	e.n, e.lastID = len(history), history[len(history)-1].ID
	h.m[convID] = e
	return e.b[:len(e.b):len(e.b)]
}

// encodeHistory appends history's messages to b (comma-separated objects
// already there, or nothing) as engine message objects.
func encodeHistory(b []byte, history []store.Message) []byte {
	for _, m := range history {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, m.Role, m.Content)
	}
	return b
}

// appendMessage appends one engine message object to b.
func appendMessage(b []byte, role, content string) []byte {
	b = append(b, `{"role":`...)
	b = inference.AppendJSONString(b, role)
	b = append(b, `,"content":`...)
	b = inference.AppendJSONString(b, content)
	return append(b, '}')
}

// messagesJSON builds an engine "messages" array: an optional system
// message, the history (encoded: encodeHistory, or historyJSON's), then the
// request's own messages as sent. It writes JSON directly: re-marshalling
// raw messages would re-scan them.
func messagesJSON(system *string, history []byte, extra []json.RawMessage) json.RawMessage {
	size := 2 + len(history) + 1
	if system != nil {
		size += len(*system) + 32
	}
	for _, m := range extra {
		size += len(m) + 1
	}
	b := append(make([]byte, 0, size), '[')
	if system != nil && *system != "" {
		b = appendMessage(b, store.RoleSystem, *system)
	}
	if len(history) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, history...)
	}
	for _, m := range extra {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, m...)
	}
	return append(b, ']')
}
