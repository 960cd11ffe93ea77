package store

import (
	"context"
	"database/sql"
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
	s.newUser(u)
	return s.write1Keeps(ctx, "create user", func(ctx context.Context, q queryer) error {
		return s.insertUser(ctx, q, u)
	})
}

// newUser fills in a new user's ID and CreatedAt where unset.
func (s *sqlStore) newUser(u *User) {
	if u.ID == "" {
		u.ID = NewID(PrefixUser)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.timestamp()
	}
}

func (s *sqlStore) insertUser(ctx context.Context, q queryer, u *User) error {
	_, err := s.exec(ctx, q,
		"INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?)",
		u.ID, nullString(u.Username), nullString(u.Email), u.PasswordHash, u.IsGuest, s.d.timeArg(u.CreatedAt))
	return err
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
	return s.write1Keeps(ctx, "update user", func(ctx context.Context, q queryer) error {
		return s.execOne(ctx, q,
			"UPDATE users SET username = ?, email = ?, password_hash = ?, is_guest = ? WHERE id = ?",
			nullString(u.Username), nullString(u.Email), u.PasswordHash, u.IsGuest, u.ID)
	})
}
