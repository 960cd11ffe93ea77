package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

const runCols = "id, conversation_id, user_id, model, status, message_id, usage, error, created_at, completed_at, owner"

func runTargets(run *Run) []any {
	return []any{&run.ID, &run.ConversationID, &run.UserID, &run.Model, &run.Status, &run.MessageID,
		usageCol{&run.Usage}, jsonCol{&run.Error}, timeCol{&run.CreatedAt}, nullTimeCol{&run.CompletedAt}, &run.Owner}
}

func scanRun(r rowScanner) (*Run, error) {
	var run Run
	if err := r.Scan(runTargets(&run)...); err != nil {
		return nil, err
	}
	return &run, nil
}

// CreateRun stores r (Status defaults to in_progress) in r.UserID's
// conversation r.ConversationID; ErrNotFound if the user does not own it.
func (s *sqlStore) CreateRun(ctx context.Context, r *Run) error {
	if r.ID == "" {
		r.ID = NewID(PrefixRun)
	}
	if r.Status == "" {
		r.Status = StatusInProgress
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.timestamp()
	}
	usage := usageArg(r.Usage)
	runErr, err := jsonArg(r.Error)
	if err != nil {
		return s.fail("create run", err)
	}
	return s.inTx(ctx, "create run", func(ctx context.Context, tx queryer) error {
		if err := s.ownConversation(ctx, tx, r.UserID, r.ConversationID); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx,
			"INSERT INTO runs ("+runCols+", heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.ConversationID, r.UserID, r.Model, r.Status, r.MessageID, usage, runErr,
			s.d.timeArg(r.CreatedAt), s.d.nullTimeArg(r.CompletedAt), r.Owner, s.d.timeArg(r.CreatedAt))
		return err
	})
}

// FinishRun records the run's outcome: Status (default completed), Usage,
// Error and CompletedAt (default now); if msg is non-nil it is appended to the
// conversation as the run's answer (Role defaults to assistant, Model to the
// run's, Status to completed or, for a run that did not complete, incomplete;
// RunID and ConversationID are set) and r.MessageID is set to its id.
// The conversation's UpdatedAt and Model are bumped. All in one transaction.
//
// A run finishes once: finishing a run that is no longer in_progress is
// ErrConflict and changes nothing, so a late finisher (e.g. a stream that ends
// after the user cancelled) cannot append a second answer.
func (s *sqlStore) FinishRun(ctx context.Context, r *Run, msg *Message) error {
	const op = "finish run"
	if r.Status == "" || r.Status == StatusInProgress {
		r.Status = StatusCompleted
	}
	if r.CompletedAt == nil {
		now := s.timestamp()
		r.CompletedAt = &now
	}
	if msg != nil {
		if msg.ID == "" {
			msg.ID = NewID(PrefixMessage)
		}
		if msg.Role == "" {
			msg.Role = RoleAssistant
		}
		if msg.Model == "" {
			msg.Model = r.Model
		}
		if msg.Status == "" && r.Status != StatusCompleted {
			msg.Status = StatusIncomplete // the answer of a cut-short run
		}
		msg.RunID = r.ID
		r.MessageID = msg.ID
	}
	usage := usageArg(r.Usage)
	runErr, err := jsonArg(r.Error)
	if err != nil {
		return s.fail(op, err)
	}
	return s.inTx(ctx, op, func(ctx context.Context, tx queryer) error {
		if err := s.touchConversation(ctx, tx, r.UserID, r.ConversationID, r.Model, s.timestamp()); err != nil {
			return err
		}
		if msg != nil {
			if err := s.insertMessages(ctx, tx, r.ConversationID, []*Message{msg}, s.timestamp()); err != nil {
				return err
			}
		}
		err := s.execOne(ctx, tx,
			`UPDATE runs SET status = ?, message_id = ?, usage = ?, error = ?, completed_at = ?, partial = ''
			 WHERE id = ? AND conversation_id = ? AND user_id = ? AND status = ?`,
			r.Status, r.MessageID, usage, runErr, s.d.nullTimeArg(r.CompletedAt),
			r.ID, r.ConversationID, r.UserID, StatusInProgress)
		if err != ErrNotFound {
			return err
		}
		// Nothing updated: either there is no such run, or it already finished.
		var status string
		if err := s.queryRow(ctx, tx,
			"SELECT status FROM runs WHERE id = ? AND conversation_id = ? AND user_id = ?",
			r.ID, r.ConversationID, r.UserID).Scan(&status); err != nil {
			return err
		}
		return fmt.Errorf("%w: run %s already finished (%s)", ErrConflict, r.ID, status)
	})
}

func (s *sqlStore) GetRun(ctx context.Context, userID, conversationID, id string) (*Run, error) {
	r, err := scanRun(s.queryRow(ctx, s.read,
		"SELECT "+runCols+" FROM runs WHERE id = ? AND conversation_id = ? AND user_id = ?",
		id, conversationID, userID))
	return r, s.fail("get run", err)
}

// CheckpointRun stores the answer so far and the heartbeat of a run in
// progress. It is one small UPDATE; a run that finished is left alone.
func (s *sqlStore) CheckpointRun(ctx context.Context, id, partial string) error {
	return s.write1(ctx, "checkpoint run", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "UPDATE runs SET partial = ?, heartbeat_at = ? WHERE id = ? AND status = ?",
			partial, s.d.timeArg(s.timestamp()), id, StatusInProgress)
		return err
	})
}

// runInterrupted is the error of a run whose process died under it.
var runInterrupted = &RunError{Code: "interrupted", Message: "the server running this run stopped before it finished; the answer so far was kept"}

// RecoverRuns finishes orphaned runs, a batch at a time, each through
// FinishRun: one that its process finishes meanwhile (ErrConflict) is left
// as that process left it.
func (s *sqlStore) RecoverRuns(ctx context.Context, owner string, staleBefore time.Time) ([]Run, error) {
	const op = "recover runs"
	var done []Run
	for {
		rows, err := s.query(ctx, s.read,
			`SELECT id, conversation_id, user_id, model, partial FROM runs
			 WHERE status = ? AND (owner = ? OR heartbeat_at < ? OR heartbeat_at IS NULL)
			 ORDER BY created_at LIMIT 100`,
			StatusInProgress, owner, s.d.timeArg(staleBefore))
		if err != nil {
			return done, s.fail(op, err)
		}
		type orphan struct {
			run     Run
			partial string
		}
		batch, err := collect(rows, func(o *orphan) []any {
			return []any{&o.run.ID, &o.run.ConversationID, &o.run.UserID, &o.run.Model, &o.partial}
		}, nil)
		if err != nil {
			return done, s.fail(op, err)
		}
		finished := 0
		for _, o := range batch {
			r := o.run
			r.Status, r.Error = StatusIncomplete, runInterrupted
			var msg *Message
			if o.partial != "" {
				msg = &Message{Role: RoleAssistant, Content: o.partial, Status: StatusIncomplete}
			}
			err := s.FinishRun(ctx, &r, msg)
			switch {
			case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
				continue
			case err != nil:
				return done, err
			}
			done = append(done, r)
			finished++
		}
		if len(batch) < 100 || finished == 0 {
			return done, nil
		}
	}
}

// RunProgress is the run and its answer so far (its last checkpoint) while
// it is in progress; "" once it ended (the answer is then its message).
func (s *sqlStore) RunProgress(ctx context.Context, userID, conversationID, id string) (*Run, string, error) {
	var partial string
	var r Run
	err := s.queryRow(ctx, s.read, "SELECT "+runCols+", partial FROM runs WHERE id = ? AND conversation_id = ? AND user_id = ?",
		id, conversationID, userID).Scan(append(runTargets(&r), &partial)...)
	if err != nil {
		return nil, "", s.fail("run progress", err)
	}
	return &r, partial, nil
}
