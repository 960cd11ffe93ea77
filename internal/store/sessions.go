package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Sessions and refresh tokens. A session is one sign-in; its refresh tokens
// rotate (each works once) and its id is in every access token issued from
// it, so ending the session refuses them all.

// SignIn starts a session for t.UserID with t as its first refresh token
// (t.SessionID is set) and marks the user active, in one transaction. With
// guest non-nil it first creates that user (as CreateUser does; t.UserID is
// set to it): a guest exists with its first token or not at all. ErrNotFound
// if the user does not exist; ErrConflict if t's hash is already stored.
func (s *sqlStore) SignIn(ctx context.Context, guest *User, t *RefreshToken) error {
	const op = "sign in"
	now := s.timestamp()
	if guest != nil {
		s.newUser(guest)
		t.UserID = guest.ID
	}
	if t.Hash == "" || t.UserID == "" {
		return s.fail(op, errors.New("hash and user id are required"))
	}
	t.SessionID = NewID(PrefixSession)
	return s.inTxKeeps(ctx, op, func(ctx context.Context, tx queryer) error {
		if guest != nil {
			if err := s.insertUser(ctx, tx, guest); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, "UPDATE users SET last_active_at = ? WHERE id = ?", s.d.timeArg(now), t.UserID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, "INSERT INTO sessions (id, user_id, created_at) VALUES (?, ?, ?)",
			t.SessionID, t.UserID, s.d.timeArg(now)); err != nil {
			return err
		}
		return s.insertRefreshToken(ctx, tx, t)
	})
}

func (s *sqlStore) insertRefreshToken(ctx context.Context, q queryer, t *RefreshToken) error {
	_, err := s.exec(ctx, q,
		"INSERT INTO refresh_tokens (hash, user_id, session_id, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?)",
		t.Hash, t.UserID, t.SessionID, s.d.timeArg(t.ExpiresAt), s.d.nullTimeArg(t.RevokedAt))
	return err
}

// RotateRefreshToken spends the live token hash and stores next in its
// place in the same session, marking the user active, in one transaction.
// The UPDATE … RETURNING that spends it is one statement, so of concurrent
// uses exactly one succeeds. A token spent before, still unexpired, is being
// replayed: its session is ended (the successor stops working too) and the
// answer is ErrTokenReused (OAuth 2.0 Security BCP, refresh token
// rotation).
func (s *sqlStore) RotateRefreshToken(ctx context.Context, hash string, next *RefreshToken) (*RefreshToken, error) {
	const op = "rotate refresh token"
	now := s.timestamp()
	var old RefreshToken
	reused := false
	err := s.inTxKeeps(ctx, op, func(ctx context.Context, tx queryer) error {
		reused = false
		err := s.queryRow(ctx, tx,
			`UPDATE refresh_tokens SET revoked_at = ?
			 WHERE hash = ? AND revoked_at IS NULL AND expires_at > ?
			 RETURNING hash, user_id, session_id, expires_at, revoked_at`,
			s.d.timeArg(now), hash, s.d.timeArg(now),
		).Scan(&old.Hash, &old.UserID, &old.SessionID, timeCol{&old.ExpiresAt}, nullTimeCol{&old.RevokedAt})
		if errors.Is(err, sql.ErrNoRows) {
			// Not live: unknown, expired, or spent before (a replay).
			var session string
			var expires time.Time
			err := s.queryRow(ctx, tx, "SELECT session_id, expires_at FROM refresh_tokens WHERE hash = ? AND revoked_at IS NOT NULL",
				hash).Scan(&session, timeCol{&expires})
			if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(expires)) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			reused = true
			return s.endSession(ctx, tx, session, hash, now)
		}
		if err != nil {
			return err
		}
		next.UserID = old.UserID
		next.SessionID = old.SessionID
		if next.SessionID == "" { // a token from before sessions: it starts one
			next.SessionID = NewID(PrefixSession)
			if _, err := s.exec(ctx, tx, "INSERT INTO sessions (id, user_id, created_at) VALUES (?, ?, ?)",
				next.SessionID, next.UserID, s.d.timeArg(now)); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, "UPDATE users SET last_active_at = ? WHERE id = ?", s.d.timeArg(now), old.UserID); err != nil {
			return err
		}
		return s.insertRefreshToken(ctx, tx, next)
	})
	switch {
	case err != nil:
		return nil, err
	case reused:
		return nil, s.fail(op, ErrTokenReused)
	}
	return &old, nil
}

// endSession revokes session id and its tokens (with id "", a token from
// before sessions, only the token hash).
func (s *sqlStore) endSession(ctx context.Context, q queryer, id, hash string, now time.Time) error {
	if id == "" {
		_, err := s.exec(ctx, q, "UPDATE refresh_tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL", s.d.timeArg(now), hash)
		return err
	}
	if _, err := s.exec(ctx, q, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", s.d.timeArg(now), id); err != nil {
		return err
	}
	_, err := s.exec(ctx, q, "UPDATE refresh_tokens SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL", s.d.timeArg(now), id)
	return err
}

// EndSession ends the session refresh token hash belongs to (logout): the
// session, its refresh tokens and the access tokens issued from it stop
// working. An unknown token is ErrNotFound.
func (s *sqlStore) EndSession(ctx context.Context, hash string) error {
	now := s.timestamp()
	return s.inTxKeeps(ctx, "end session", func(ctx context.Context, tx queryer) error {
		var session string
		if err := s.queryRow(ctx, tx, "SELECT session_id FROM refresh_tokens WHERE hash = ?", hash).Scan(&session); err != nil {
			return err
		}
		return s.endSession(ctx, tx, session, hash, now)
	})
}

// RevokeSessions ends every session of a user (after an upgrade, the
// guest's tokens must stop working).
func (s *sqlStore) RevokeSessions(ctx context.Context, userID string) error {
	now := s.timestamp()
	return s.inTxKeeps(ctx, "revoke sessions", func(ctx context.Context, tx queryer) error {
		if _, err := s.exec(ctx, tx, "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
			s.d.timeArg(now), userID); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
			s.d.timeArg(now), userID)
		return err
	})
}

// RevokedSessions lists the sessions revoked at or after since.
func (s *sqlStore) RevokedSessions(ctx context.Context, since time.Time) ([]RevokedSession, error) {
	rows, err := s.query(ctx, s.read, "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?", s.d.timeArg(since))
	if err != nil {
		return nil, s.fail("revoked sessions", err)
	}
	list, err := collect(rows, func(r *RevokedSession) []any { return []any{&r.ID, timeCol{&r.RevokedAt}} }, nil)
	return list, s.fail("revoked sessions", err)
}

// PurgeGuests deletes the guests whose last sign-in or refresh (or creation)
// is before before, with everything they own: conversations (and their
// messages and runs), idempotency records, sessions and refresh tokens. A
// batch of guests at a time, each guest in one transaction.
func (s *sqlStore) PurgeGuests(ctx context.Context, before time.Time) (int64, error) {
	const op = "purge guests"
	var n int64
	for {
		rows, err := s.query(ctx, s.read,
			"SELECT id FROM users WHERE is_guest = TRUE AND COALESCE(last_active_at, created_at) < ? LIMIT 100", s.d.timeArg(before))
		if err != nil {
			return n, s.fail(op, err)
		}
		ids, err := collect(rows, func(id *string) []any { return []any{id} }, nil)
		if err != nil {
			return n, s.fail(op, err)
		}
		for _, id := range ids {
			err := s.inTx(ctx, op, func(ctx context.Context, tx queryer) error {
				// Still a stale guest? It may have signed in since the SELECT.
				if err := s.execOne(ctx, tx,
					"UPDATE users SET last_active_at = last_active_at WHERE id = ? AND is_guest = TRUE AND COALESCE(last_active_at, created_at) < ?",
					id, s.d.timeArg(before)); err != nil {
					return err
				}
				for _, q := range []string{
					"DELETE FROM conversations WHERE user_id = ?",
					"DELETE FROM responses WHERE user_id = ?",
					"DELETE FROM projects WHERE user_id = ?",
					"DELETE FROM idempotency WHERE principal_id = ?",
					"DELETE FROM users WHERE id = ?",
				} {
					if _, err := s.exec(ctx, tx, q, id); err != nil {
						return err
					}
				}
				return nil
			})
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
		}
		if len(ids) < 100 {
			return n, nil
		}
	}
}
