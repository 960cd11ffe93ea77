package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// cancelChannel is the Postgres NOTIFY channel of cancel requests; the
// payload is the run id.
const cancelChannel = "jan_cancel"

// RequestCancel records that the run should stop, for the process that
// runs it; on Postgres the others are notified at commit. A run that is
// not in progress (or not the user's) is ErrNotFound.
func (s *sqlStore) RequestCancel(ctx context.Context, userID, runID string) error {
	return s.requestCancel(ctx, "UPDATE runs SET cancel_requested = ? WHERE id = ? AND user_id = ? AND status = ?",
		runID, true, runID, userID, StatusInProgress)
}

// RequestResponseCancel is RequestCancel for a background response
// (queued or in progress).
func (s *sqlStore) RequestResponseCancel(ctx context.Context, userID, responseID string) error {
	return s.requestCancel(ctx, "UPDATE responses SET cancel_requested = ? WHERE id = ? AND user_id = ? AND status IN ('queued', 'in_progress')",
		responseID, true, responseID, userID)
}

func (s *sqlStore) requestCancel(ctx context.Context, update, id string, args ...any) error {
	return s.inTx(ctx, "request cancel", func(ctx context.Context, tx queryer) error {
		if err := s.execOne(ctx, tx, update, args...); err != nil {
			return err
		}
		if s.d == dialectPostgres {
			_, err := s.exec(ctx, tx, "SELECT pg_notify(?, ?)", cancelChannel, id)
			return err
		}
		return nil
	})
}

// CancelRequests lists the in-progress runs and responses of owner whose
// cancel was requested: the polling fallback for a lost notification.
func (s *sqlStore) CancelRequests(ctx context.Context, owner string) ([]string, error) {
	const op = "list cancel requests"
	rows, err := s.query(ctx, s.read,
		"SELECT id FROM runs WHERE owner = ? AND status = 'in_progress' AND cancel_requested = ?"+
			" UNION ALL SELECT id FROM responses WHERE owner = ? AND status IN ('queued', 'in_progress') AND cancel_requested = ?",
		owner, true, owner, true)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.fail(op, err)
		}
		ids = append(ids, id)
	}
	return ids, s.fail(op, rows.Err())
}

// WatchCancels calls fn with the id of every run whose cancel another
// process requests, as the notification arrives (Postgres LISTEN on a
// connection of its own, reconnecting while ctx lasts). SQLite has no
// notifications: it returns at once and callers poll CancelRequests.
func (s *sqlStore) WatchCancels(ctx context.Context, fn func(runID string)) error {
	if s.pgConfig == nil {
		return nil
	}
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("cancel notifications: reconnecting", "err", s.fail("listen", err), "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	return nil
}

func (s *sqlStore) listen(ctx context.Context, fn func(string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pgConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+cancelChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == cancelChannel {
			fn(n.Payload)
		}
	}
}
