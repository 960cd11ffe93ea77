package store

import "context"

// SigningKeys lists the issuer's signing keys, the active one first.
func (s *sqlStore) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	const op = "list signing keys"
	rows, err := s.query(ctx, s.read, "SELECT kid, pem, active, created_at FROM signing_keys ORDER BY active DESC, created_at DESC")
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		if err := rows.Scan(&k.KID, &k.PEM, &k.Active, timeCol{&k.CreatedAt}); err != nil {
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
	k.Active = true
	return s.write1(ctx, "add signing key", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "INSERT INTO signing_keys (kid, pem, active, created_at) VALUES (?, ?, ?, ?)",
			k.KID, k.PEM, true, s.d.timeArg(k.CreatedAt))
		return err
	})
}
