package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

const conversationCols = "id, user_id, title, metadata, model, project_id, created_at, updated_at"

// conversationTargets are the Scan destinations of a conversationCols row.
func conversationTargets(c *Conversation) []any {
	return []any{&c.ID, &c.UserID, &c.Title, jsonCol{&c.Metadata}, &c.Model, &c.ProjectID,
		timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}}
}

// finishConversation completes a scanned conversation: Metadata is never nil.
func finishConversation(c *Conversation) {
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
}

// conversationSize is about what a conversation weighs in a list response.
func conversationSize(c *Conversation) int {
	n := 200 + len(c.Title) + len(c.Model)
	for k, v := range c.Metadata {
		n += len(k) + len(v) + 6
	}
	return n
}

func scanConversation(r rowScanner) (*Conversation, error) {
	var c Conversation
	if err := r.Scan(conversationTargets(&c)...); err != nil {
		return nil, err
	}
	finishConversation(&c)
	return &c, nil
}

// metadataArg encodes metadata as a JSON object; nil is stored as {}.
func metadataArg(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func (s *sqlStore) CreateConversation(ctx context.Context, c *Conversation, msgs []*Message) error {
	if c.UserID == "" {
		return s.fail("create conversation", errors.New("conversation has no user"))
	}
	meta, err := metadataArg(c.Metadata)
	if err != nil {
		return s.fail("create conversation", err)
	}
	if c.ID == "" {
		c.ID = NewID(PrefixConversation)
	}
	now := s.timestamp()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = c.CreatedAt
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	return s.inTxKeeps(ctx, "create conversation", func(ctx context.Context, tx queryer) error {
		if err := s.serializeOwner(ctx, tx, c.UserID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx,
			"INSERT INTO conversations ("+conversationCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			c.ID, c.UserID, c.Title, meta, c.Model, c.ProjectID, s.d.timeArg(c.CreatedAt), s.d.timeArg(c.UpdatedAt),
		); err != nil {
			return err
		}
		return s.insertMessages(ctx, tx, c.ID, msgs, now)
	})
}

// serializeOwner makes one owner's inserts into a seq-ordered table commit
// in seq order. On Postgres, identity values are taken at INSERT but become
// visible at COMMIT, so two concurrent creates by one user could commit out
// of order, and a client paging forward in between would skip one; a
// transaction-scoped advisory lock per owner prevents that. SQLite has one
// writer: nothing to do.
func (s *sqlStore) serializeOwner(ctx context.Context, q queryer, owner string) error {
	if s.d != dialectPostgres {
		return nil
	}
	_, err := s.exec(ctx, q, "SELECT pg_advisory_xact_lock(?, hashtext(?))", ownerLockClass, owner)
	return err
}

func (s *sqlStore) GetConversation(ctx context.Context, userID, id string) (*Conversation, error) {
	c, err := scanConversation(s.queryRow(ctx, s.read,
		"SELECT "+conversationCols+" FROM conversations WHERE id = ? AND user_id = ?", id, userID))
	return c, s.fail("get conversation", err)
}

// ListConversations lists the user's conversations that f keeps, newest
// first unless p.Order is "asc".
func (s *sqlStore) ListConversations(ctx context.Context, userID string, f ConversationFilter, p Page) ([]Conversation, bool, error) {
	const op = "list conversations"
	w, err := s.newWindow(ctx, p, PrefixConversation, OrderDesc,
		"SELECT seq FROM conversations WHERE id = ? AND user_id = ?", userID)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	where, args := conversationFilter(userID, f)
	rows, err := s.query(ctx, s.read, "SELECT "+conversationCols+" FROM conversations WHERE "+where+w.clause(),
		append(args, w.clauseArgs()...)...)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	list, more, err := collectPage(rows, w, p.MaxBytes, conversationTargets, finishConversation, conversationSize)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	return list, more, nil
}

// CountConversations counts the user's conversations that f keeps.
func (s *sqlStore) CountConversations(ctx context.Context, userID string, f ConversationFilter) (int, error) {
	where, args := conversationFilter(userID, f)
	var n int
	err := s.queryRow(ctx, s.read, "SELECT COUNT(*) FROM conversations WHERE "+where, args...).Scan(&n)
	return n, s.fail("count conversations", err)
}

// conversationFilter is the WHERE condition (and its arguments) of the
// user's conversations that f keeps.
func conversationFilter(userID string, f ConversationFilter) (string, []any) {
	if f.ProjectID != "" {
		return "user_id = ? AND project_id = ?", []any{userID, f.ProjectID}
	}
	return "user_id = ?", []any{userID}
}

// UpdateConversation changes the fields u sets and bumps UpdatedAt.
func (s *sqlStore) UpdateConversation(ctx context.Context, userID, id string, u ConversationUpdate) (*Conversation, error) {
	const op = "update conversation"
	sets := []string{"updated_at = ?"}
	args := []any{s.d.timeArg(s.timestamp())}
	if u.Title != nil {
		sets, args = append(sets, "title = ?"), append(args, *u.Title)
	}
	if u.Metadata != nil {
		meta, err := metadataArg(u.Metadata)
		if err != nil {
			return nil, s.fail(op, err)
		}
		sets, args = append(sets, "metadata = ?"), append(args, meta)
	}
	if u.Model != nil {
		sets, args = append(sets, "model = ?"), append(args, *u.Model)
	}
	if u.ProjectID != nil {
		sets, args = append(sets, "project_id = ?"), append(args, *u.ProjectID)
	}
	var c *Conversation
	err := s.write1(ctx, op, func(ctx context.Context, q queryer) (err error) {
		c, err = scanConversation(s.queryRow(ctx, q,
			"UPDATE conversations SET "+strings.Join(sets, ", ")+
				" WHERE id = ? AND user_id = ? RETURNING "+conversationCols,
			append(args, id, userID)...))
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteConversation deletes the conversation; its messages and runs go with
// it (ON DELETE CASCADE).
func (s *sqlStore) DeleteConversation(ctx context.Context, userID, id string) error {
	return s.write1(ctx, "delete conversation", func(ctx context.Context, q queryer) error {
		return s.execOne(ctx, q, "DELETE FROM conversations WHERE id = ? AND user_id = ?", id, userID)
	})
}

// touchConversation bumps the conversation's updated_at (and its model, when
// model is not "") if userID owns it, else ErrNotFound. Inside a transaction it
// also takes the conversation's row lock first, so appends to one
// conversation are serialized and their seq order is their commit order.
func (s *sqlStore) touchConversation(ctx context.Context, q queryer, userID, id, model string, now time.Time) error {
	return s.execOne(ctx, q,
		`UPDATE conversations SET updated_at = ?, model = COALESCE(NULLIF(CAST(? AS TEXT), ''), model)
		 WHERE id = ? AND user_id = ?`,
		s.d.timeArg(now), model, id, userID)
}

// touchFrom is touchConversation that also returns the updated_at it
// replaced when that is the state the history cache holds for the
// conversation — the only state the cache can be extended from — or the
// zero time otherwise (no entry, or another writer changed the row since;
// the cache then drops its entry). Asking the row to still be at the
// cache's state costs the writer no read: the UPDATE checks it.
func (s *sqlStore) touchFrom(ctx context.Context, q queryer, userID, id, model string, now time.Time) (time.Time, error) {
	cached, ok := s.cache.state(id)
	if !ok {
		return time.Time{}, s.touchConversation(ctx, q, userID, id, model, now)
	}
	err := s.execOne(ctx, q,
		`UPDATE conversations SET updated_at = ?, model = COALESCE(NULLIF(CAST(? AS TEXT), ''), model)
		 WHERE id = ? AND user_id = ? AND updated_at = ?`,
		s.d.timeArg(now), model, id, userID, s.d.timeArg(cached))
	if errors.Is(err, ErrNotFound) { // changed since the cache read it (or not the user's): touch it anyway
		return time.Time{}, s.touchConversation(ctx, q, userID, id, model, now)
	}
	return cached, err
}

// collect scans every row into a T and closes rows. targets gives the Scan
// destinations that fill in a T; they are made once, for one scratch T that
// every row is scanned into (after zeroing it) and then copied out of, and
// finish (if not nil) completes each T.
func collect[T any](rows *sql.Rows, targets func(*T) []any, finish func(*T)) ([]T, error) {
	defer rows.Close()
	list := []T{} // an empty list, not nil: callers encode it as []
	var v T
	dest := targets(&v)
	for rows.Next() {
		var zero T
		v = zero
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if finish != nil {
			finish(&v)
		}
		list = append(list, v)
	}
	return list, rows.Err()
}
