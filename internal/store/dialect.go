package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is everything that differs between SQLite and Postgres once the
// schema exists. The queries in this package are written once, in the subset
// of SQL both speak (? placeholders, ON CONFLICT, RETURNING, lower()); the
// schemas themselves live per dialect in migrations/.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// rebind rewrites ? placeholders as $1, $2, ... for Postgres. Our queries put
// no ? inside string literals, but quoted text is skipped anyway so a literal
// can never be mangled.
func (d dialect) rebind(query string) string {
	if d != dialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// timeArg is how a time is passed to a query: SQLite stores INTEGER Unix
// microseconds (compact, and compares correctly as numbers), Postgres
// TIMESTAMPTZ. Scanning accepts both (see timeCol).
func (d dialect) timeArg(t time.Time) any {
	if d == dialectPostgres {
		return t.UTC()
	}
	return t.UnixMicro()
}

func (d dialect) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.timeArg(*t)
}

// tableExistsQuery answers "does table ? exist" with one row holding a count.
func (d dialect) tableExistsQuery() string {
	if d == dialectPostgres {
		return "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?"
	}
	return "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
}

// ownerLockClass keeps serializeOwner's locks apart from the migration lock.
const ownerLockClass = 7305

// migrationLockKey is the Postgres advisory lock every jan process takes
// around migrations (an arbitrary constant: "jan" plus a version digit).
const migrationLockKey = 0x6a616e01

// lockMigrations serializes migrators across processes. Postgres takes a
// session advisory lock on c (released by unlock, or when c dies). SQLite
// needs nothing here: each migration runs in a BEGIN IMMEDIATE transaction that
// re-checks schema_migrations, and SQLite allows one writer at a time.
func (d dialect) lockMigrations(ctx context.Context, c *sql.Conn) (unlock func(), err error) {
	if d != dialectPostgres {
		return func() {}, nil
	}
	if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return nil, err
	}
	return func() {
		// Background: the lock must be released even if ctx is done.
		_, _ = c.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}, nil
}

// classify maps a driver error to the store error the server acts on:
// ErrConflict (unique violation), ErrNotFound (a referenced row is missing),
// ErrUnavailable (the database cannot be reached or is locked up), or nil when
// err is none of these.
func (d dialect) classify(err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return ErrUnavailable
	}
	if d == dialectPostgres {
		return classifyPostgres(err)
	}
	return classifySQLite(err)
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED:
// another connection holds a lock this one needs.
func sqliteBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

func classifySQLite(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return ErrNotFound
	}
	switch se.Code() & 0xff { // primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_PROTOCOL:
		return ErrUnavailable
	}
	return nil
}

func classifyPostgres(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return ErrConflict
		case pe.Code == "23503": // foreign_key_violation
			return ErrNotFound
		case pe.Code == "22021", pe.Code == "22P05": // character_not_in_repertoire, untranslatable_character
			return ErrInvalidText
		// connection_exception, disk_full, out_of_memory, too_many_connections, admin/crash shutdown,
		// cannot_connect_now (starting up or in recovery)
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "53100", pe.Code == "53200", pe.Code == "53300",
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03":
			return ErrUnavailable
		}
		return nil
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	// A connection that died under a statement ("conn closed", a timeout)
	// or failed before it was used is the database being away, too.
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return ErrUnavailable
	}
	return nil
}
