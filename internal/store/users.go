package store

import (
	"context"
	"database/sql"
	"errors"
)

const userCols = "id, username, email, password_hash, is_guest, created_at"

func scanUser(r rowScanner) (*User, error) {
	var u User
	var username, email sql.NullString
	if err := r.Scan(&u.ID, &username, &email, &u.PasswordHash, &u.IsGuest, timeCol{&u.CreatedAt}); err != nil {
		return nil, err
	}
	u.Username, u.Email = username.String, email.String
	return &u, nil
}

// CreateUser stores u. An empty Username or Email is stored as "none" (guests
// have neither), so any number of users may leave them empty; a taken one,
// compared case-insensitively, is ErrConflict.
func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = NewID(PrefixUser)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.timestamp()
	}
	return s.write1(ctx, "create user", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q,
			"INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?)",
			u.ID, nullString(u.Username), nullString(u.Email), u.PasswordHash, u.IsGuest, s.d.timeArg(u.CreatedAt))
		return err
	})
}

func (s *sqlStore) GetUser(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.queryRow(ctx, s.read, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	return u, s.fail("get user", err)
}

// GetUserByUsername finds a user by username, ignoring case.
func (s *sqlStore) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	if username == "" {
		return nil, s.fail("get user by username", ErrNotFound)
	}
	u, err := scanUser(s.queryRow(ctx, s.read,
		"SELECT "+userCols+" FROM users WHERE lower(username) = lower(?)", username))
	return u, s.fail("get user by username", err)
}

// UpdateUser overwrites the user's username, email, password hash and guest
// flag (upgrading a guest sets all four). ID and CreatedAt are kept.
func (s *sqlStore) UpdateUser(ctx context.Context, u *User) error {
	return s.write1(ctx, "update user", func(ctx context.Context, q queryer) error {
		return s.execOne(ctx, q,
			"UPDATE users SET username = ?, email = ?, password_hash = ?, is_guest = ? WHERE id = ?",
			nullString(u.Username), nullString(u.Email), u.PasswordHash, u.IsGuest, u.ID)
	})
}

// SaveRefreshToken stores t. Its user must exist (ErrNotFound otherwise);
// a hash that is already stored is ErrConflict.
func (s *sqlStore) SaveRefreshToken(ctx context.Context, t *RefreshToken) error {
	if t.Hash == "" || t.UserID == "" {
		return s.fail("save refresh token", errors.New("hash and user id are required"))
	}
	return s.write1(ctx, "save refresh token", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q,
			"INSERT INTO refresh_tokens (hash, user_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)",
			t.Hash, t.UserID, s.d.timeArg(t.ExpiresAt), s.d.nullTimeArg(t.RevokedAt))
		return err
	})
}

// UseRefreshToken revokes and returns a live token in one statement, so of
// any number of concurrent uses exactly one succeeds.
func (s *sqlStore) UseRefreshToken(ctx context.Context, hash string) (*RefreshToken, error) {
	now := s.timestamp()
	var t RefreshToken
	err := s.write1(ctx, "use refresh token", func(ctx context.Context, q queryer) error {
		return s.queryRow(ctx, q,
			`UPDATE refresh_tokens SET revoked_at = ?
			 WHERE hash = ? AND revoked_at IS NULL AND expires_at > ?
			 RETURNING hash, user_id, expires_at, revoked_at`,
			s.d.timeArg(now), hash, s.d.timeArg(now),
		).Scan(&t.Hash, &t.UserID, timeCol{&t.ExpiresAt}, nullTimeCol{&t.RevokedAt})
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}
