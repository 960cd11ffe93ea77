package store

import "context"

// RevokeRefreshTokens revokes every live refresh token of userID.
func (s *sqlStore) RevokeRefreshTokens(ctx context.Context, userID string) error {
	now := s.timestamp()
	return s.write1(ctx, "revoke refresh tokens", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
			s.d.timeArg(now), userID)
		return err
	})
}
