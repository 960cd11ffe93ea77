package store

import (
	"sync"
	"sync/atomic"
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
//
// Trusted entries. On SQLite, where every write of this store goes through
// one group committer, an entry can also be served without reading the
// conversation row at all, while it is trusted. Trust is given and taken
// only inside the committer's goroutine, in order with the commits: an
// entry is trusted when the committer has read its row on the writer
// connection and found the entry's state (get with trust); it stays trusted
// through this store's own appends, which the committer applies to it right
// after their COMMIT (appended); and every entry loses it (distrust) before
// any other write, and when another connection — another process on the
// file — has committed, which the committer sees from PRAGMA data_version.
// ConversationHistory asks the committer, in an operation queued after its
// call, so a change committed before the call is never missed. Entries
// read on a reader connection (put) are never trusted: a reader's snapshot
// can be older than an append the committer has applied already.
type historyCache struct {
	mu    sync.Mutex
	m     map[string]cachedHistory // by conversation id
	epoch uint64                   // starts at 1: a zero stamp is never trusted
	hits  atomic.Int64             // histories served trusted, without a read (for tests)
}

type cachedHistory struct {
	conv  Conversation // the row as read (updated_at and model kept by appended)
	trust uint64       // the epoch the row was read in; 0: read it again before use
	msgs  []Message    // append-only: shared with callers (see shared)
}

// maxCachedConversations bounds the cache; beyond it the cache starts over
// (the active conversations refill it within a turn each).
const maxCachedConversations = 2048

func newHistoryCache() *historyCache { return &historyCache{m: map[string]cachedHistory{}, epoch: 1} }

// distrust makes every entry need a read of its row before it is served.
func (c *historyCache) distrust() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
}

// get returns the cached messages (shared) when the entry matches the
// conversation as just read. trust, for a row the committer read on the
// writer connection, makes a matching entry trusted from now on, with conv
// as its row.
func (c *historyCache) get(conv *Conversation, trust bool) ([]Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[conv.ID]
	if !ok || e.conv.UserID != conv.UserID || !e.conv.UpdatedAt.Equal(conv.UpdatedAt) {
		return nil, false
	}
	if trust {
		e.conv, e.trust = *conv, c.epoch
		c.m[conv.ID] = e
	}
	return shared(e.msgs), true
}

// trusted returns a copy of the conversation and its messages (shared)
// when the entry for id is trusted and belongs to userID.
func (c *historyCache) trusted(id, userID string) (*Conversation, []Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || e.trust != c.epoch || e.conv.UserID != userID {
		return nil, nil, false
	}
	c.hits.Add(1)
	conv := e.conv
	return &conv, shared(e.msgs), true
}

// shared is the cached messages as handed to callers, without copying them:
// read-only, and capped, so that a caller's append makes a copy and never
// writes where the cache appends next (entries only ever grow: appended).
func shared(msgs []Message) []Message { return msgs[:len(msgs):len(msgs)] }

// put caches msgs for conv as read on a reader connection (untrusted);
// from now on the caller hands out only shared(msgs).
func (c *historyCache) put(conv *Conversation, msgs []Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedConversations {
		clear(c.m)
	}
	c.m[conv.ID] = cachedHistory{conv: *conv, msgs: msgs}
}

// appended extends an entry after a committed append, if the conversation
// was at the entry's state (before) when the append began; otherwise the
// entry is dropped. The entry's row follows the append's touch: updated_at
// after, and model when the append named one (touchConversation).
func (c *historyCache) appended(convID string, before, after time.Time, model string, msgs []*Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[convID]
	if !ok {
		return
	}
	if !e.conv.UpdatedAt.Equal(before) {
		delete(c.m, convID)
		return
	}
	grown := e.msgs // past every caller's len: see shared
	for _, m := range msgs {
		v := *m
		v.CreatedAt = v.CreatedAt.UTC().Truncate(time.Microsecond) // as the database keeps it
		grown = append(grown, v)
	}
	e.conv.UpdatedAt = after.UTC().Truncate(time.Microsecond)
	if model != "" {
		e.conv.Model = model
	}
	e.msgs = grown
	c.m[convID] = e
}

// state is the updated_at the cached entry for convID was read or
// extended at.
func (c *historyCache) state(convID string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[convID]
	return e.conv.UpdatedAt, ok
}

func (c *historyCache) drop(convID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, convID)
}
