package store

import (
	"sync"
	"time"
)

// historyCache keeps the messages of recently used conversations, so a chat
// turn need not read its whole history back from the database every time.
//
// An entry is valid only for the conversation row it was read with: every
// change to a conversation's messages moves its updated_at (AppendMessages,
// FinishRun, DeleteMessage touch it), so ConversationHistory compares the
// updated_at it reads — in the same snapshot — with the entry's, and another
// process or replica writing the conversation is noticed on the next read.
// After its own append, a store extends the entry only if the conversation
// had not changed since the entry was made (checked inside the write).
type historyCache struct {
	mu sync.Mutex
	m  map[string]cachedHistory // by conversation id
}

type cachedHistory struct {
	userID  string
	updated time.Time
	msgs    []Message
}

// maxCachedConversations bounds the cache; beyond it the cache starts over
// (the active conversations refill it within a turn each).
const maxCachedConversations = 2048

func newHistoryCache() *historyCache { return &historyCache{m: map[string]cachedHistory{}} }

// get returns a copy of the cached messages when the entry matches the
// conversation as just read.
func (c *historyCache) get(conv *Conversation) ([]Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[conv.ID]
	if !ok || e.userID != conv.UserID || !e.updated.Equal(conv.UpdatedAt) {
		return nil, false
	}
	return append(make([]Message, 0, len(e.msgs)+2), e.msgs...), true
}

func (c *historyCache) put(conv *Conversation, msgs []Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedConversations {
		clear(c.m)
	}
	c.m[conv.ID] = cachedHistory{userID: conv.UserID, updated: conv.UpdatedAt, msgs: append([]Message(nil), msgs...)}
}

// appended extends an entry after a committed append, if the conversation
// was at the entry's state (before) when the append began; otherwise the
// entry is dropped.
func (c *historyCache) appended(convID string, before, after time.Time, msgs []*Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[convID]
	if !ok {
		return
	}
	if !e.updated.Equal(before) {
		delete(c.m, convID)
		return
	}
	grown := append(make([]Message, 0, len(e.msgs)+len(msgs)), e.msgs...)
	for _, m := range msgs {
		v := *m
		v.CreatedAt = v.CreatedAt.UTC().Truncate(time.Microsecond) // as the database keeps it
		grown = append(grown, v)
	}
	c.m[convID] = cachedHistory{userID: e.userID, updated: after, msgs: grown}
}

// state is the updated_at the cached entry for convID was read or
// extended at.
func (c *historyCache) state(convID string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[convID]
	return e.updated, ok
}

func (c *historyCache) drop(convID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, convID)
}
