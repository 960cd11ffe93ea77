package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Response is a stored response of the Responses API. Params, the items
// and the events are JSON the server writes; the store only keeps them.
type Response struct {
	ID                 string
	UserID             string
	Model              string
	Status             string // queued | in_progress | completed | incomplete | failed | cancelled
	PreviousResponseID string
	ConversationID     string
	Params             []byte // what the request set, to show it back (JSON)
	Usage              *Usage
	Error              *RunError
	IncompleteReason   string
	Owner              string // the process running it (see RecoverResponses)
	CreatedAt          time.Time
	CompletedAt        *time.Time
}

// ResponseItem is one input or output item of a response: its id and JSON.
type ResponseItem struct {
	ID    string
	Input bool
	Data  []byte
}

// ResponseEnd is what is stored with a response's outcome.
type ResponseEnd struct {
	Output []ResponseItem
	// Messages are appended to the response's conversation, if any.
	Messages []*Message
	// Events are the last of its stream's events (a background
	// response's), stored with the status they announce.
	Events []ResponseEvent
}

// ResponseEvent is one event of a response's stream, numbered from 0.
type ResponseEvent struct {
	Seq  int
	Type string
	Data []byte
}

// Response statuses the store acts on (the rest are the server's words).
const (
	ResponseQueued     = "queued"
	ResponseInProgress = "in_progress"
)

const responseCols = "id, user_id, model, status, previous_response_id, conversation_id, params, usage, error, incomplete_reason, owner, created_at, completed_at"

func responseTargets(r *Response) []any {
	return []any{&r.ID, &r.UserID, &r.Model, &r.Status, &r.PreviousResponseID, &r.ConversationID, rawCol{&r.Params},
		usageCol{&r.Usage}, jsonCol{&r.Error}, &r.IncompleteReason, &r.Owner, timeCol{&r.CreatedAt}, nullTimeCol{&r.CompletedAt}}
}

// rawCol scans a JSON or text column as bytes (a copy).
type rawCol struct{ b *[]byte }

func (c rawCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.b = nil
	case []byte:
		*c.b = append([]byte(nil), v...)
	case string:
		*c.b = []byte(v)
	default:
		return fmt.Errorf("store: cannot scan %T as JSON", src)
	}
	return nil
}

// MaxResponseChain bounds how many responses a previous_response_id chain
// reads back.
const MaxResponseChain = 1000

// CreateResponse stores r (ID set if empty, CreatedAt, Status in_progress
// by default) with its input items, in one transaction.
func (s *sqlStore) CreateResponse(ctx context.Context, r *Response, input []ResponseItem) error {
	if r.UserID == "" {
		return s.fail("create response", errors.New("response has no user"))
	}
	if r.ID == "" {
		r.ID = NewID(PrefixResponse)
	}
	if r.Status == "" {
		r.Status = ResponseInProgress
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.timestamp()
	}
	usage := usageArg(r.Usage)
	rerr, err := jsonArg(r.Error)
	if err != nil {
		return s.fail("create response", err)
	}
	params := string(r.Params)
	if params == "" {
		params = "{}"
	}
	return s.inTx(ctx, "create response", func(ctx context.Context, tx queryer) error {
		if err := s.serializeOwner(ctx, tx, r.UserID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx,
			"INSERT INTO responses ("+responseCols+", heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.UserID, r.Model, r.Status, r.PreviousResponseID, r.ConversationID, params, usage, rerr, r.IncompleteReason,
			r.Owner, s.d.timeArg(r.CreatedAt), s.d.nullTimeArg(r.CompletedAt), s.d.timeArg(r.CreatedAt)); err != nil {
			return err
		}
		return s.insertResponseItems(ctx, tx, r.ID, true, input)
	})
}

func (s *sqlStore) insertResponseItems(ctx context.Context, q queryer, responseID string, input bool, items []ResponseItem) error {
	for _, it := range items {
		if it.ID == "" {
			return errors.New("response item has no id")
		}
		if _, err := s.exec(ctx, q, "INSERT INTO response_items (id, response_id, input, data) VALUES (?, ?, ?, ?)",
			it.ID, responseID, input, string(it.Data)); err != nil {
			return err
		}
	}
	return nil
}

// FinishResponse stores the outcome of a response in progress — r's
// Status, Usage, Error, IncompleteReason, CompletedAt (default now) — with
// its output items, its last events and, when it belongs to a conversation,
// messages appended to the conversation, in one transaction. A response
// that is no longer in progress is ErrConflict and nothing changes.
func (s *sqlStore) FinishResponse(ctx context.Context, r *Response, end ResponseEnd) error {
	const op = "finish response"
	if r.CompletedAt == nil {
		now := s.timestamp()
		r.CompletedAt = &now
	}
	usage := usageArg(r.Usage)
	rerr, err := jsonArg(r.Error)
	if err != nil {
		return s.fail(op, err)
	}
	var before, now time.Time
	return s.inTxCached(ctx, op, false, func(ctx context.Context, tx queryer) error {
		err := s.execOne(ctx, tx,
			`UPDATE responses SET status = ?, usage = ?, error = ?, incomplete_reason = ?, completed_at = ?, partial = ''
			 WHERE id = ? AND user_id = ? AND status IN (?, ?)`,
			r.Status, usage, rerr, r.IncompleteReason, s.d.nullTimeArg(r.CompletedAt), r.ID, r.UserID, ResponseQueued, ResponseInProgress)
		if errors.Is(err, ErrNotFound) {
			var status string
			if err := s.queryRow(ctx, tx, "SELECT status FROM responses WHERE id = ? AND user_id = ?", r.ID, r.UserID).Scan(&status); err != nil {
				return err
			}
			return fmt.Errorf("%w: response %s already finished (%s)", ErrConflict, r.ID, status)
		}
		if err != nil {
			return err
		}
		if err := s.insertResponseItems(ctx, tx, r.ID, false, end.Output); err != nil {
			return err
		}
		if err := s.insertResponseEvents(ctx, tx, r.ID, end.Events); err != nil {
			return err
		}
		msgs := end.Messages
		if r.ConversationID == "" || len(msgs) == 0 {
			return nil
		}
		now = s.timestamp()
		if before, err = s.touchFrom(ctx, tx, r.UserID, r.ConversationID, lastModel(msgs), now); err != nil {
			return err
		}
		return s.insertMessages(ctx, tx, r.ConversationID, msgs, now)
	}, func() {
		if len(end.Messages) > 0 && r.ConversationID != "" {
			s.cache.appended(r.ConversationID, before, now, lastModel(end.Messages), end.Messages)
		}
	})
}

func (s *sqlStore) GetResponse(ctx context.Context, userID, id string) (*Response, error) {
	var r Response
	err := s.queryRow(ctx, s.read, "SELECT "+responseCols+" FROM responses WHERE id = ? AND user_id = ?", id, userID).
		Scan(responseTargets(&r)...)
	if err != nil {
		return nil, s.fail("get response", err)
	}
	return &r, nil
}

// DeleteResponse deletes the response with its items and events.
func (s *sqlStore) DeleteResponse(ctx context.Context, userID, id string) error {
	return s.write1(ctx, "delete response", func(ctx context.Context, q queryer) error {
		return s.execOne(ctx, q, "DELETE FROM responses WHERE id = ? AND user_id = ?", id, userID)
	})
}

// ListResponseItems pages through a response's input (or output) items,
// oldest first unless p.Order is "desc". p.After must be one of them.
func (s *sqlStore) ListResponseItems(ctx context.Context, userID, responseID string, input bool, p Page) ([]ResponseItem, bool, error) {
	const op = "list response items"
	var one int
	if err := s.queryRow(ctx, s.read, "SELECT 1 FROM responses WHERE id = ? AND user_id = ?", responseID, userID).Scan(&one); err != nil {
		return nil, false, s.fail(op, err)
	}
	w, err := s.newWindow(ctx, p, "", OrderAsc,
		"SELECT seq FROM response_items WHERE id = ? AND response_id = ? AND input = ?", responseID, input)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	rows, err := s.query(ctx, s.read, "SELECT id, data FROM response_items WHERE response_id = ? AND input = ?"+w.clause(),
		append([]any{responseID, input}, w.clauseArgs()...)...)
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	list, more, err := collectPage(rows, w, p.MaxBytes, func(it *ResponseItem) []any { return []any{&it.ID, rawCol{&it.Data}} },
		func(it *ResponseItem) { it.Input = input }, func(it *ResponseItem) int { return 100 + len(it.Data) })
	return list, more, s.fail(op, err)
}

// ResponseContext is what a response continues: the items of id and of
// every response before it on its previous_response_id chain, oldest
// response first, each one's input then output items. ErrNotFound unless
// userID owns id; a chain longer than MaxResponseChain is cut there.
func (s *sqlStore) ResponseContext(ctx context.Context, userID, id string) ([]ResponseItem, error) {
	const op = "response context"
	var chain [][]ResponseItem
	seen := map[string]bool{}
	for next := id; next != "" && len(chain) < MaxResponseChain && !seen[next]; {
		seen[next] = true
		var prev string
		if err := s.queryRow(ctx, s.read, "SELECT previous_response_id FROM responses WHERE id = ? AND user_id = ?", next, userID).Scan(&prev); err != nil {
			if len(chain) > 0 && errors.Is(err, sql.ErrNoRows) {
				break // an earlier link was deleted: the chain starts here
			}
			return nil, s.fail(op, err)
		}
		rows, err := s.query(ctx, s.read, "SELECT id, input, data FROM response_items WHERE response_id = ? ORDER BY input DESC, seq", next)
		if err != nil {
			return nil, s.fail(op, err)
		}
		items, err := collect(rows, func(it *ResponseItem) []any { return []any{&it.ID, &it.Input, rawCol{&it.Data}} }, nil)
		if err != nil {
			return nil, s.fail(op, err)
		}
		chain = append(chain, items)
		next = prev
	}
	var all []ResponseItem
	for i := len(chain) - 1; i >= 0; i-- {
		all = append(all, chain[i]...)
	}
	return all, nil
}

// CheckpointResponse saves the output so far (a JSON array of items) of a
// response in progress and marks it alive; once it finished, nothing.
func (s *sqlStore) CheckpointResponse(ctx context.Context, id string, partial []byte) error {
	return s.write1(ctx, "checkpoint response", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "UPDATE responses SET partial = ?, heartbeat_at = ? WHERE id = ? AND status IN (?, ?)",
			string(partial), s.d.timeArg(s.timestamp()), id, ResponseQueued, ResponseInProgress)
		return err
	})
}

// RecoverResponses finishes the responses left in progress by a process
// that is gone (owner, or a heartbeat older than staleBefore), as
// incomplete (reason "interrupted"), their checkpointed output becoming
// their output items. It returns those it finished.
func (s *sqlStore) RecoverResponses(ctx context.Context, owner string, staleBefore time.Time) ([]Response, error) {
	const op = "recover responses"
	rows, err := s.query(ctx, s.read,
		`SELECT `+responseCols+`, partial FROM responses
		 WHERE status IN (?, ?) AND (owner = ? OR heartbeat_at < ? OR heartbeat_at IS NULL) ORDER BY seq LIMIT 1000`,
		ResponseQueued, ResponseInProgress, owner, s.d.timeArg(staleBefore))
	if err != nil {
		return nil, s.fail(op, err)
	}
	type orphan struct {
		r       Response
		partial string
	}
	list, err := collect(rows, func(o *orphan) []any { return append(responseTargets(&o.r), &o.partial) }, nil)
	if err != nil {
		return nil, s.fail(op, err)
	}
	var done []Response
	for _, o := range list {
		var items []json.RawMessage
		_ = json.Unmarshal([]byte(o.partial), &items) // "" or what CheckpointResponse stored
		output := make([]ResponseItem, 0, len(items))
		for _, it := range items {
			var head struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(it, &head) == nil && head.ID != "" {
				output = append(output, ResponseItem{ID: head.ID, Data: it})
			}
		}
		r := o.r
		r.Status, r.IncompleteReason, r.CompletedAt = "incomplete", "interrupted", nil
		switch err := s.FinishResponse(ctx, &r, ResponseEnd{Output: output}); {
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return done, err
		}
		done = append(done, r)
	}
	return done, nil
}

// AppendResponseEvents stores events of a response's stream (numbered by
// the caller, without gaps); an event stored already is left as it is.
func (s *sqlStore) AppendResponseEvents(ctx context.Context, responseID string, events []ResponseEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, "append response events", func(ctx context.Context, tx queryer) error {
		return s.insertResponseEvents(ctx, tx, responseID, events)
	})
}

func (s *sqlStore) insertResponseEvents(ctx context.Context, q queryer, responseID string, events []ResponseEvent) error {
	for _, e := range events {
		if _, err := s.exec(ctx, q,
			"INSERT INTO response_events (response_id, seq, type, data) VALUES (?, ?, ?, ?) ON CONFLICT (response_id, seq) DO NOTHING",
			responseID, e.Seq, e.Type, string(e.Data)); err != nil {
			return err
		}
	}
	return nil
}

// ResponseEvents returns the stored events of userID's response after
// sequence number after (-1: from the start), in order.
func (s *sqlStore) ResponseEvents(ctx context.Context, userID, responseID string, after int) ([]ResponseEvent, error) {
	const op = "response events"
	rows, err := s.query(ctx, s.read,
		`SELECT e.seq, e.type, e.data FROM response_events e
		 WHERE e.response_id = ? AND e.seq > ?
		   AND EXISTS (SELECT 1 FROM responses r WHERE r.id = e.response_id AND r.user_id = ?)
		 ORDER BY e.seq`, responseID, after, userID)
	if err != nil {
		return nil, s.fail(op, err)
	}
	list, err := collect(rows, func(e *ResponseEvent) []any { return []any{&e.Seq, &e.Type, rawCol{&e.Data}} }, nil)
	return list, s.fail(op, err)
}
