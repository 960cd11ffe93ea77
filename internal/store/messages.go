package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

const messageCols = "id, conversation_id, role, content, status, model, run_id, usage, created_at"

// messageTargets are the Scan destinations of a messageCols row.
func messageTargets(m *Message) []any {
	return []any{&m.ID, &m.ConversationID, &m.Role, &m.Content, &m.Status, &m.Model, &m.RunID,
		usageCol{&m.Usage}, timeCol{&m.CreatedAt}}
}

// historyCols are messageCols but conversation_id, for lists of one
// conversation's messages: the caller knows it (one column less per row).
const historyCols = "id, role, content, status, model, run_id, usage, created_at"

func historyTargets(m *Message) []any {
	return []any{&m.ID, &m.Role, &m.Content, &m.Status, &m.Model, &m.RunID,
		usageCol{&m.Usage}, timeCol{&m.CreatedAt}}
}

// collectHistory collects historyCols rows of conversation convID.
func collectHistory(rows *sql.Rows, convID string) ([]Message, error) {
	return collect(rows, historyTargets, func(m *Message) { m.ConversationID = convID })
}

func scanMessage(r rowScanner) (*Message, error) {
	var m Message
	if err := r.Scan(messageTargets(&m)...); err != nil {
		return nil, err
	}
	return &m, nil
}

// maxInsertRows is how many messages one INSERT statement stores.
const maxInsertRows = 8

// insertMessagesSQL[n] inserts n messages, 1 <= n <= maxInsertRows.
var insertMessagesSQL = func() (qs [maxInsertRows + 1]string) {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for n := 1; n <= maxInsertRows; n++ {
		qs[n] = "INSERT INTO messages (" + messageCols + ") VALUES " + strings.Repeat(row+", ", n-1) + row
	}
	return qs
}()

// insertMessages appends msgs to conversation convID, in order, filling in
// ID, ConversationID, Status (completed) and CreatedAt (now) where unset. Up
// to maxInsertRows messages go in one statement.
func (s *sqlStore) insertMessages(ctx context.Context, q queryer, convID string, msgs []*Message, now time.Time) error {
	for len(msgs) > 0 {
		batch := msgs[:min(len(msgs), maxInsertRows)]
		msgs = msgs[len(batch):]
		args := make([]any, 0, 9*len(batch))
		for _, m := range batch {
			if m.ID == "" {
				m.ID = NewID(PrefixMessage)
			}
			m.ConversationID = convID
			if m.Status == "" {
				m.Status = StatusCompleted
			}
			if m.CreatedAt.IsZero() {
				m.CreatedAt = now
			}
			args = append(args, m.ID, m.ConversationID, m.Role, m.Content, m.Status, m.Model, m.RunID,
				usageArg(m.Usage), s.d.timeArg(m.CreatedAt))
		}
		if _, err := s.exec(ctx, q, insertMessagesSQL[len(batch)], args...); err != nil {
			return err
		}
	}
	return nil
}

// lastModel is the model of the last message that names one, or "".
func lastModel(msgs []*Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Model != "" {
			return msgs[i].Model
		}
	}
	return ""
}

// AppendMessages appends msgs to the user's conversation. The conversation's
// UpdatedAt is bumped, and its Model set to the last message's model if any
// message names one.
func (s *sqlStore) AppendMessages(ctx context.Context, userID, conversationID string, msgs []*Message) error {
	var before, now time.Time
	// The cache follows the append, right after its commit.
	return s.inTxCached(ctx, "append messages", true, func(ctx context.Context, tx queryer) error {
		now = s.timestamp()
		// Touch first: it checks ownership and locks the conversation row;
		// the state it replaced tells the history cache whether its entry
		// was current.
		var err error
		if before, err = s.touchFrom(ctx, tx, userID, conversationID, lastModel(msgs), now); err != nil {
			return err
		}
		if err := s.insertMessages(ctx, tx, conversationID, msgs, now); err != nil {
			return err
		}
		return nil
	}, func() { s.cache.appended(conversationID, before, now, lastModel(msgs), msgs) })
}

// ownConversation returns ErrNotFound unless userID owns the conversation.
func (s *sqlStore) ownConversation(ctx context.Context, q queryer, userID, conversationID string) error {
	var one int
	return s.queryRow(ctx, q, "SELECT 1 FROM conversations WHERE id = ? AND user_id = ?",
		conversationID, userID).Scan(&one)
}

// ListMessages lists the conversation's messages, oldest first unless p.Order
// is "desc".
func (s *sqlStore) ListMessages(ctx context.Context, userID, conversationID string, p Page) ([]Message, bool, error) {
	const op = "list messages"
	if err := s.ownConversation(ctx, s.read, userID, conversationID); err != nil {
		return nil, false, s.fail(op, err)
	}
	w, err := s.newWindow(ctx, p, PrefixMessage, OrderAsc,
		"SELECT seq FROM messages WHERE id = ? AND conversation_id = ?", conversationID)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	rows, err := s.query(ctx, s.read,
		"SELECT "+historyCols+" FROM messages WHERE conversation_id = ?"+w.clause(),
		append([]any{conversationID}, w.clauseArgs()...)...)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	list, more, err := collectPage(rows, w, p.MaxBytes, historyTargets,
		func(m *Message) { m.ConversationID = conversationID },
		func(m *Message) int { return 200 + len(m.Content) })
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	return list, more, nil
}

func (s *sqlStore) History(ctx context.Context, userID, conversationID string) ([]Message, error) {
	const op = "history"
	if err := s.ownConversation(ctx, s.read, userID, conversationID); err != nil {
		return nil, s.fail(op, err)
	}
	rows, err := s.query(ctx, s.read,
		"SELECT "+historyCols+" FROM messages WHERE conversation_id = ? ORDER BY seq", conversationID)
	if err != nil {
		return nil, s.fail(op, err)
	}
	list, err := collectHistory(rows, conversationID)
	return list, s.fail(op, err)
}

// ConversationHistory reads the conversation and its messages in one read
// transaction, so both come from one snapshot; the conversation query is the
// ownership check.
func (s *sqlStore) ConversationHistory(ctx context.Context, userID, id string) (*Conversation, []Message, error) {
	const op = "conversation history"
	if s.group != nil && s.group.lookedSince(StartOf(ctx)) {
		// SQLite, in a request that began before a look the committer has
		// made: an entry the cache trusts now reflects every commit made
		// before the request, this process's and any other's, so it is
		// served as it is, without a trip through the committer.
		if conv, list, ok := s.cache.trusted(id, userID); ok {
			return conv, list, nil
		}
	}
	if _, cached := s.cache.state(id); cached && s.group != nil {
		// SQLite: the committer serves the history from the cache when it
		// can trust it, or validates the entry with a read of the row on
		// the writer connection, whose pages it has at hand (see
		// historyCache). Without an entry there is nothing to validate:
		// the read below is the only one.
		conv, list, err := s.historyFromCache(ctx, userID, id)
		if err != nil || list != nil {
			return conv, list, s.fail(op, err)
		}
	}
	// Most turns find the history cached for the conversation's current
	// state: then one statement (the conversation row, which says which
	// state that is) is all it takes — no transaction around it.
	conv, err := scanConversation(s.queryRow(ctx, s.read,
		"SELECT "+conversationCols+" FROM conversations WHERE id = ? AND user_id = ?", id, userID))
	if err != nil {
		return nil, nil, s.fail(op, err)
	}
	if cached, ok := s.cache.get(conv, false); ok {
		return conv, cached, nil
	}
	var list []Message
	// Repeatable read gives Postgres one snapshot for both queries; SQLite
	// transactions always read one snapshot (and ignore the level).
	err = s.runTx(ctx, s.read, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, op,
		func(ctx context.Context, tx queryer) error {
			var err error
			conv, err = scanConversation(s.queryRow(ctx, tx,
				"SELECT "+conversationCols+" FROM conversations WHERE id = ? AND user_id = ?", id, userID))
			if err != nil {
				return err
			}
			if cached, ok := s.cache.get(conv, false); ok {
				list = cached
				return nil
			}
			rows, err := s.query(ctx, tx,
				"SELECT "+historyCols+" FROM messages WHERE conversation_id = ? ORDER BY seq", id)
			if err != nil {
				return err
			}
			list, err = collectHistory(rows, id)
			return err
		})
	if err != nil {
		return nil, nil, err
	}
	s.cache.put(conv, list)
	return conv, shared(list), nil
}

// historyFromCache is the conversation and its history from the cache,
// decided by the group committer (SQLite): a trusted entry as it is, or one
// whose row, read on the writer, shows it current. A nil list without an
// error: the history has to be read (not cached, or not current).
func (s *sqlStore) historyFromCache(ctx context.Context, userID, id string) (*Conversation, []Message, error) {
	var conv *Conversation
	var list []Message
	var rerr error
	err := s.group.do(ctx, &writeOp{single: true, keeps: true, look: true, fn: func(ctx context.Context, q queryer) error {
		conv, list, rerr = nil, nil, nil // fn may run more than once (see groupCommitter)
		var ok bool
		if conv, list, ok = s.cache.trusted(id, userID); ok {
			return nil
		}
		// A missing conversation fails this read, never the transaction it
		// shares with other writes.
		if conv, rerr = scanConversation(s.queryRow(ctx, q,
			"SELECT "+conversationCols+" FROM conversations WHERE id = ? AND user_id = ?", id, userID)); rerr == nil {
			list, _ = s.cache.get(conv, true)
		}
		return nil
	}})
	if err == nil {
		err = rerr
	}
	return conv, list, err
}

func (s *sqlStore) GetMessage(ctx context.Context, userID, conversationID, id string) (*Message, error) {
	m, err := scanMessage(s.queryRow(ctx, s.read,
		`SELECT `+messageCols+` FROM messages
		 WHERE id = ? AND conversation_id = ?
		   AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?)`,
		id, conversationID, userID))
	return m, s.fail("get message", err)
}

// DeleteMessage removes a message and moves the conversation's updated_at,
// as every change to its messages does (the history cache relies on it).
func (s *sqlStore) DeleteMessage(ctx context.Context, userID, conversationID, id string) error {
	defer s.cache.drop(conversationID)
	return s.inTx(ctx, "delete message", func(ctx context.Context, q queryer) error {
		if err := s.execOne(ctx, q,
			`DELETE FROM messages
			 WHERE id = ? AND conversation_id = ?
			   AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?)`,
			id, conversationID, userID); err != nil {
			return err
		}
		return s.touchConversation(ctx, q, userID, conversationID, "", s.timestamp())
	})
}
