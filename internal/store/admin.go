package store

import "context"

// ListUsers lists every user, oldest first, for administrators: at most
// limit, starting after the user with id after ("" from the start).
func (s *sqlStore) ListUsers(ctx context.Context, limit int, after string) (users []User, hasMore bool, err error) {
	q := "SELECT " + userCols + " FROM users"
	args := []any{}
	if after != "" {
		var n int
		if err := s.queryRow(ctx, s.read, "SELECT COUNT(*) FROM users WHERE id = ?", after).Scan(&n); err != nil {
			return nil, false, s.fail("list users", err)
		}
		if n == 0 {
			return nil, false, ErrBadCursor
		}
		q += " WHERE (created_at, id) > (SELECT created_at, id FROM users WHERE id = ?)"
		args = append(args, after)
	}
	q += " ORDER BY created_at, id LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.query(ctx, s.read, q, args...)
	if err != nil {
		return nil, false, s.fail("list users", err)
	}
	defer rows.Close()
	users = []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, false, s.fail("list users", err)
		}
		users = append(users, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.fail("list users", err)
	}
	if len(users) > limit {
		return users[:limit], true, nil
	}
	return users, false, nil
}
