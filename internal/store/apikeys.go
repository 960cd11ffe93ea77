package store

import (
	"context"
	"strings"
	"time"
)

const apiKeyCols = "id, user_id, username, scopes, name, prefix, hash, created_at, last_used_at, expires_at"

func scanAPIKey(r rowScanner) (*APIKey, error) {
	var k APIKey
	var scopes string
	if err := r.Scan(&k.ID, &k.UserID, &k.Username, &scopes, &k.Name, &k.Prefix, &k.Hash,
		timeCol{&k.CreatedAt}, nullTimeCol{&k.LastUsedAt}, nullTimeCol{&k.ExpiresAt}); err != nil {
		return nil, err
	}
	k.Scopes = strings.Fields(scopes)
	return &k, nil
}

// CreateAPIKey stores k (ID and CreatedAt set when empty).
func (s *sqlStore) CreateAPIKey(ctx context.Context, k *APIKey) error {
	if k.ID == "" {
		k.ID = NewID(PrefixAPIKey)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.timestamp()
	}
	return s.write1Keeps(ctx, "create api key", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "INSERT INTO api_keys ("+apiKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			k.ID, k.UserID, k.Username, strings.Join(k.Scopes, " "), k.Name, k.Prefix, k.Hash,
			s.d.timeArg(k.CreatedAt), s.d.nullTimeArg(k.LastUsedAt), s.d.nullTimeArg(k.ExpiresAt))
		return err
	})
}

// ListAPIKeys lists a user's keys, oldest first.
func (s *sqlStore) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	rows, err := s.query(ctx, s.read, "SELECT "+apiKeyCols+" FROM api_keys WHERE user_id = ? ORDER BY seq", userID)
	if err != nil {
		return nil, s.fail("list api keys", err)
	}
	defer rows.Close()
	keys := []APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.fail("list api keys", err)
		}
		keys = append(keys, *k)
	}
	return keys, s.fail("list api keys", rows.Err())
}

// APIKeyByHash finds the key whose secret hashes to hash.
func (s *sqlStore) APIKeyByHash(ctx context.Context, hash string) (*APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, s.read, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = ?", hash))
	return k, s.fail("get api key", err)
}

// DeleteAPIKey removes one of the user's keys; another user's is ErrNotFound.
func (s *sqlStore) DeleteAPIKey(ctx context.Context, userID, id string) error {
	return s.write1Keeps(ctx, "delete api key", func(ctx context.Context, q queryer) error {
		return s.execOne(ctx, q, "DELETE FROM api_keys WHERE id = ? AND user_id = ?", id, userID)
	})
}

// TouchAPIKey records when a key was last used.
func (s *sqlStore) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.write1Keeps(ctx, "touch api key", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", s.d.timeArg(at.UTC().Truncate(time.Microsecond)), id)
		return err
	})
}
