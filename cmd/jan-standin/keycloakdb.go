package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// keycloakStore keeps the Keycloak double's State (keys, users, sessions)
// in keycloak-db, where Keycloak keeps them: identities outlive a restart
// (jan down, jan up) as they do with Keycloak.
type keycloakStore struct{ db *sql.DB }

// openKeycloakStore connects to the database KC_DB, KC_DB_URL,
// KC_DB_USERNAME and KC_DB_PASSWORD name (compose.yaml's), waiting up to a
// minute for it; without KC_DB the double keeps nothing (nil, nil).
func openKeycloakStore(ctx context.Context, getenv func(string) string) (*keycloakStore, error) {
	switch getenv("KC_DB") {
	case "":
		return nil, nil
	case "postgres":
	default:
		return nil, fmt.Errorf("KC_DB=%s: the stand-in keeps its data in postgres only", getenv("KC_DB"))
	}
	dsn, err := postgresDSN(getenv("KC_DB_URL"), getenv("KC_DB_USERNAME"), getenv("KC_DB_PASSWORD"))
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS jan_standin_state (
			id INTEGER PRIMARY KEY, state TEXT NOT NULL, saved_at TIMESTAMPTZ NOT NULL)`)
		if err == nil {
			return &keycloakStore{db}, nil
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("keycloak database: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// postgresDSN turns Keycloak's JDBC URL and credentials into a postgres:// URL.
func postgresDSN(jdbc, user, password string) (string, error) {
	rest, ok := strings.CutPrefix(jdbc, "jdbc:postgresql://")
	if !ok {
		return "", fmt.Errorf("KC_DB_URL=%q: want jdbc:postgresql://HOST[:PORT]/DB", jdbc)
	}
	u, err := url.Parse("postgres://" + rest)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "", fmt.Errorf("KC_DB_URL=%q: want jdbc:postgresql://HOST[:PORT]/DB", jdbc)
	}
	u.User = url.UserPassword(user, password)
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// load is the saved state; nil when none was saved yet.
func (s *keycloakStore) load(ctx context.Context) ([]byte, error) {
	var state string
	err := s.db.QueryRowContext(ctx, `SELECT state FROM jan_standin_state WHERE id = 1`).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return []byte(state), err
}

func (s *keycloakStore) save(ctx context.Context, state []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO jan_standin_state (id, state, saved_at) VALUES (1, $1, now())
		ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, saved_at = EXCLUDED.saved_at`, string(state))
	return err
}
