package store

import (
	"context"
	"fmt"
)

// CreateLoginState stores ls and drops the expired ones, in one
// transaction.
func (s *sqlStore) CreateLoginState(ctx context.Context, ls *LoginState) error {
	return s.inTxKeeps(ctx, "create login state", func(ctx context.Context, tx queryer) error {
		if _, err := s.exec(ctx, tx, "DELETE FROM login_states WHERE expires_at < ?", s.d.timeArg(s.timestamp())); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, "INSERT INTO login_states (state_hash, verifier, redirect_url, query_mode, expires_at) VALUES (?, ?, ?, ?, ?)",
			ls.StateHash, ls.Verifier, ls.RedirectURL, ls.QueryMode, s.d.timeArg(ls.ExpiresAt))
		return err
	})
}

// TakeLoginState deletes the state and returns it; one that is missing,
// already taken or expired is ErrNotFound.
func (s *sqlStore) TakeLoginState(ctx context.Context, stateHash string) (*LoginState, error) {
	var ls LoginState
	err := s.write1Keeps(ctx, "take login state", func(ctx context.Context, q queryer) error {
		return s.queryRow(ctx, q, "DELETE FROM login_states WHERE state_hash = ? RETURNING state_hash, verifier, redirect_url, query_mode, expires_at",
			stateHash).Scan(&ls.StateHash, &ls.Verifier, &ls.RedirectURL, &ls.QueryMode, timeCol{&ls.ExpiresAt})
	})
	if err != nil {
		return nil, err
	}
	if !s.timestamp().Before(ls.ExpiresAt) {
		return nil, s.fail("take login state", fmt.Errorf("login state expired at %s: %w", ls.ExpiresAt, ErrNotFound))
	}
	return &ls, nil
}
