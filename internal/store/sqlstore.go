package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// sqlStore is the one implementation of Store, over database/sql, for both
// dialects. Reads go to read and writes to write: for SQLite they are a reader
// pool and a single writer connection (SQLite allows one writer at a time, so
// queueing in Go is cheaper than spinning on SQLITE_BUSY); for Postgres both
// are the same pool.
type sqlStore struct {
	d      dialect
	read   *sql.DB
	write  *sql.DB
	log    *slog.Logger
	secret string // a password to scrub from error messages; "" if none
	now    func() time.Time
}

var _ Store = (*sqlStore)(nil)
var _ Accounts = (*sqlStore)(nil)

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return s.fail("ping", err)
	}
	if s.read != s.write {
		if err := s.read.PingContext(ctx); err != nil {
			return s.fail("ping", err)
		}
	}
	return nil
}

func (s *sqlStore) Close() error {
	var err error
	if s.read != s.write {
		err = s.read.Close()
	}
	return errors.Join(err, s.write.Close())
}

// timestamp is the store's clock: UTC, cut to the microsecond both databases
// keep, so a struct the store fills in equals the same object read back.
func (s *sqlStore) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exec, query and queryRow run one of this package's ? queries on q, in the
// dialect's placeholder style.
func (s *sqlStore) exec(ctx context.Context, q queryer, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, s.d.rebind(query), args...)
}

func (s *sqlStore) query(ctx context.Context, q queryer, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, s.d.rebind(query), args...)
}

func (s *sqlStore) queryRow(ctx context.Context, q queryer, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.d.rebind(query), args...)
}

// execOne runs a write that must touch at least one row; none is ErrNotFound.
func (s *sqlStore) execOne(ctx context.Context, q queryer, query string, args ...any) error {
	res, err := s.exec(ctx, q, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// inTx runs fn in a transaction on the writer (BEGIN IMMEDIATE on SQLite, so
// the write lock is taken up front and two processes cannot deadlock upgrading
// read locks) and commits if fn returns nil.
func (s *sqlStore) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return s.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// fail wraps err for the caller: "store: <op>: ..." with the store error it
// stands for (ErrNotFound, ErrConflict, ErrUnavailable) reachable by errors.Is,
// and the DSN's password scrubbed from the text.
func (s *sqlStore) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	e := &opError{op: op, err: err, secret: s.secret}
	for _, sentinel := range []error{ErrNotFound, ErrConflict, ErrBadCursor, ErrUnavailable} {
		if errors.Is(err, sentinel) {
			return e // already one of ours: nothing to add
		}
	}
	e.kind = s.d.classify(err)
	return e
}

// opError is the error store methods return for a failed operation. kind is
// ErrNotFound, ErrConflict, ErrBadCursor or ErrUnavailable when the failure is
// one of those (errors.Is sees it), else nil; err is the underlying cause.
type opError struct {
	op     string
	kind   error
	err    error
	secret string
}

func (e *opError) Error() string {
	msg := "store: " + e.op + ": "
	if e.kind != nil {
		msg += e.kind.Error() + ": "
	}
	msg += e.err.Error()
	if e.secret != "" {
		msg = strings.ReplaceAll(msg, e.secret, "xxxxx")
	}
	return msg
}

func (e *opError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// timeCol scans a time column of either dialect: INTEGER Unix microseconds
// (SQLite) or a timestamp (Postgres). The result is UTC.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}

// nullTimeCol is timeCol for a nullable column: NULL scans as a nil pointer.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// jsonCol scans a JSON column (TEXT in SQLite, JSONB in Postgres) into v, a
// pointer. NULL leaves v untouched.
type jsonCol struct{ v any }

func (c jsonCol) Scan(src any) error {
	var b []byte
	switch s := src.(type) {
	case nil:
		return nil
	case []byte:
		b = s
	case string:
		b = []byte(s)
	default:
		return fmt.Errorf("store: cannot scan %T as JSON", src)
	}
	return json.Unmarshal(b, c.v)
}

// jsonArg encodes v for a JSON column; a nil pointer becomes NULL. The value is
// passed as text, which both SQLite and Postgres (jsonb) accept.
func jsonArg[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// nullString maps "" to NULL, for unique columns where "unset" must not clash.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
