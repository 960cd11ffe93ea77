package store

import (
	"context"
	"time"
)

// SigningKeys lists the issuer's signing keys, the active one first, then
// the retired ones, newest first.
func (s *sqlStore) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	const op = "list signing keys"
	rows, err := s.query(ctx, s.read, "SELECT kid, pem, active, created_at, retired_at FROM signing_keys ORDER BY active DESC, created_at DESC")
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		if err := rows.Scan(&k.KID, &k.PEM, &k.Active, timeCol{&k.CreatedAt}, nullTimeCol{&k.RetiredAt}); err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, k)
	}
	return out, s.fail(op, rows.Err())
}

// AddSigningKey stores k as the active key. When another is active already
// (another replica made it first) it is ErrConflict: read that one.
func (s *sqlStore) AddSigningKey(ctx context.Context, k *SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.timestamp()
	}
	k.Active, k.RetiredAt = true, nil
	return s.write1Keeps(ctx, "add signing key", func(ctx context.Context, q queryer) error {
		return s.insertSigningKey(ctx, q, k)
	})
}

func (s *sqlStore) insertSigningKey(ctx context.Context, q queryer, k *SigningKey) error {
	_, err := s.exec(ctx, q, "INSERT INTO signing_keys (kid, pem, active, created_at) VALUES (?, ?, ?, ?)",
		k.KID, k.PEM, true, s.d.timeArg(k.CreatedAt))
	return err
}

// RotateSigningKey retires oldKID and makes k the active key in one
// transaction; ErrConflict when oldKID is not the active key any more.
func (s *sqlStore) RotateSigningKey(ctx context.Context, oldKID string, k *SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.timestamp()
	}
	return s.inTxKeeps(ctx, "rotate signing key", func(ctx context.Context, q queryer) error {
		res, err := s.exec(ctx, q, "UPDATE signing_keys SET active = ?, retired_at = ? WHERE kid = ? AND active = ?",
			false, s.d.timeArg(k.CreatedAt), oldKID, true)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrConflict
		}
		if err := s.insertSigningKey(ctx, q, k); err != nil {
			return err
		}
		k.Active, k.RetiredAt = true, nil
		return nil
	})
}

// PruneSigningKeys deletes the keys retired before t.
func (s *sqlStore) PruneSigningKeys(ctx context.Context, retiredBefore time.Time) (int64, error) {
	var n int64
	err := s.write1Keeps(ctx, "prune signing keys", func(ctx context.Context, q queryer) error {
		res, err := s.exec(ctx, q, "DELETE FROM signing_keys WHERE active = ? AND retired_at < ?", false, s.d.timeArg(retiredBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
