package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, sqlite, postgres string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = ?", "x = '?' AND y = $1"},
		{"x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"},
	} {
		if got := dialectSQLite.rebind(tc.in); got != tc.sqlite {
			t.Errorf("sqlite rebind(%q) = %q", tc.in, got)
		}
		if got := dialectPostgres.rebind(tc.in); got != tc.postgres {
			t.Errorf("postgres rebind(%q) = %q, want %q", tc.in, got, tc.postgres)
		}
	}
}

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn    string
		kind   dialect
		target string
	}{
		{"postgres://u:p@h/db", dialectPostgres, "postgres://u:p@h/db"},
		{"PostgreSQL://h/db", dialectPostgres, "PostgreSQL://h/db"},
		{"sqlite:/var/lib/jan/jan.db", dialectSQLite, "/var/lib/jan/jan.db"},
		{"sqlite:///var/lib/jan/jan.db", dialectSQLite, "/var/lib/jan/jan.db"},
		{"sqlite:rel/jan.db", dialectSQLite, "rel/jan.db"},
		{" /data/jan.db ", dialectSQLite, "/data/jan.db"},
		{"jan.db", dialectSQLite, "jan.db"},
	} {
		kind, target := parseDSN(tc.dsn)
		if kind != tc.kind || target != tc.target {
			t.Errorf("parseDSN(%q) = %v %q, want %v %q", tc.dsn, kind, target, tc.kind, tc.target)
		}
	}
}

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name string
		d    dialect
		err  error
		want error
	}{
		{"no rows", dialectSQLite, sql.ErrNoRows, ErrNotFound},
		{"bad conn", dialectSQLite, driver.ErrBadConn, ErrUnavailable},
		{"pg unique", dialectPostgres, pg("23505"), ErrConflict},
		{"pg foreign key", dialectPostgres, pg("23503"), ErrNotFound},
		{"pg connection failure", dialectPostgres, pg("08006"), ErrUnavailable},
		{"pg shutting down", dialectPostgres, pg("57P01"), ErrUnavailable},
		{"pg starting up", dialectPostgres, pg("57P03"), ErrUnavailable},
		{"pg too many connections", dialectPostgres, pg("53300"), ErrUnavailable},
		{"pg syntax error", dialectPostgres, pg("42601"), nil},
		{"pg connect", dialectPostgres, &pgconn.ConnectError{Config: &pgconn.Config{}}, ErrUnavailable},
		{"network", dialectPostgres, &net.OpError{Op: "dial", Err: errors.New("refused")}, ErrUnavailable},
		{"other", dialectPostgres, errors.New("boom"), nil},
	} {
		if got := tc.d.classify(tc.err); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErrorScrubsSecret(t *testing.T) {
	s := &sqlStore{d: dialectPostgres, secret: "hunter2"}
	err := s.fail("query", errors.New("auth failed for password hunter2"))
	if got := err.Error(); got != "store: query: auth failed for password xxxxx" {
		t.Errorf("Error() = %q", got)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID(PrefixConversation)
		if !hasPrefix(id, PrefixConversation) || len(id) != len("conv_")+24 || seen[id] {
			t.Fatalf("NewID = %q (duplicate: %v)", id, seen[id])
		}
		seen[id] = true
	}
	if id := NewID("msg_"); !hasPrefix(id, "msg") || len(id) != len("msg_")+24 {
		t.Errorf("NewID(msg_) = %q", id)
	}
	for _, c := range NewID("x") {
		if !strings.ContainsRune("-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", c) {
			t.Fatalf("NewID has %q, not URL-safe", c)
		}
	}
}

// TestNewIDsSortByTime: ids made in later milliseconds sort after earlier
// ones, as strings (and so in any index of them).
func TestNewIDsSortByTime(t *testing.T) {
	prev := NewID(PrefixMessage)
	for range 5 {
		time.Sleep(2 * time.Millisecond)
		id := NewID(PrefixMessage)
		if id <= prev {
			t.Fatalf("%q made after %q sorts before it", id, prev)
		}
		prev = id
	}
}
