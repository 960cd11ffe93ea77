package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/janhq/jan/internal/diskfree"
)

// sqlStore is the one implementation of Store, over database/sql, for both
// dialects. Reads go to read and writes to write: for SQLite they are a reader
// pool and a single writer connection (SQLite allows one writer at a time, so
// queueing in Go is cheaper than spinning on SQLITE_BUSY); for Postgres both
// are the same pool.
type sqlStore struct {
	d      dialect
	read   *pool
	write  *pool
	group  *groupCommitter // SQLite: every write goes through it; nil for Postgres
	ckpt   *checkpointer   // SQLite: checkpoints the WAL off the writer; nil for Postgres
	file   string          // SQLite: the database file; "" for Postgres
	log    *slog.Logger
	secret string // a password to scrub from error messages; "" if none
	now    func() time.Time
	cache  *historyCache
	// pgConfig opens the dedicated connection that LISTENs for cancel
	// requests (Postgres only).
	pgConfig *pgx.ConnConfig
}

var _ Store = (*sqlStore)(nil)

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

// minFreeBytes is the free space below which a SQLite database is not
// ready for writes (CheckWrite).
const minFreeBytes = 1 << 20

// CheckWrite updates the one row of the health table, so a full disk or a
// read-only database fails it. For SQLite it first checks the free space of
// the database's file system: a write that fits in WAL pages already on disk
// succeeds on a full disk (the checkpointer rewinds the WAL), while the
// next turn that needs one page more would not.
func (s *sqlStore) CheckWrite(ctx context.Context) error {
	if s.file != "" {
		if free, ok := diskfree.Free(filepath.Dir(s.file)); ok && free < minFreeBytes {
			return unavailable("check write", fmt.Errorf("%d bytes free on the database's file system (%s)", free, filepath.Dir(s.file)), "")
		}
	}
	return s.write1Keeps(ctx, "check write", func(ctx context.Context, q queryer) error {
		_, err := s.exec(ctx, q, "INSERT INTO health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
			s.d.timeArg(s.timestamp()))
		return err
	})
}

func (s *sqlStore) Close() error {
	if s.group != nil {
		s.group.close()
	}
	var err error
	err = s.ckpt.close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return errors.Join(err, s.write.Close())
}

// timestamp is the store's clock: UTC, cut to the microsecond both databases
// keep, so a struct the store fills in equals the same object read back.
func (s *sqlStore) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common; the store's
// own *pool and *txn are queryers too.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exec, query and queryRow run one of this package's ? queries on q, in the
// dialect's placeholder style. On a *pool or a *txn the query runs as a
// prepared statement from the pool's cache (see pool); on anything else
// (migrations) it is prepared for this one call.
func (s *sqlStore) exec(ctx context.Context, q queryer, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, q, query)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.ExecContext(ctx, s.d.rebind(query), args...)
}

func (s *sqlStore) query(ctx context.Context, q queryer, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, q, query)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, s.d.rebind(query), args...)
}

// queryRow is query for at most one row: Scan is sql.ErrNoRows if there is none.
func (s *sqlStore) queryRow(ctx context.Context, q queryer, query string, args ...any) row {
	rows, err := s.query(ctx, q, query, args...)
	return row{rows, err}
}

// row is *sql.Row for s.queryRow.
type row struct {
	rows *sql.Rows
	err  error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// stmt is query's cached prepared statement for q, or nil when q caches none.
func (s *sqlStore) stmt(ctx context.Context, q queryer, query string) (*sql.Stmt, error) {
	switch q := q.(type) {
	case *pool:
		return q.prepared(ctx, query)
	case *txn:
		return q.stmt(ctx, query), nil
	}
	return nil, nil
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

// inTx runs fn, a write of several statements, atomically: on SQLite in the
// writer's next group transaction (see groupCommitter; BEGIN IMMEDIATE, so
// the write lock is taken up front and two processes cannot deadlock
// upgrading read locks), on Postgres in a transaction of its own. It returns
// once fn's writes are committed, or fn's error.
//
// A context made by WithIdempotentDone adds the completion of that request's
// idempotency record to the transaction.
func (s *sqlStore) inTx(ctx context.Context, op string, fn txFunc) error {
	return s.inTxCached(ctx, op, false, fn, nil)
}

// inTxKeeps is inTx for a write that changes no conversation row and no
// message of an existing conversation: it leaves the history cache's trust
// in place (see inTxCached).
func (s *sqlStore) inTxKeeps(ctx context.Context, op string, fn txFunc) error {
	return s.inTxCached(ctx, op, true, fn, nil)
}

// inTxCached is inTx for writes that mind the history cache: keeps says fn
// changes no conversation row or message, or only as after (run once fn's
// writes are committed) tells the cache; without keeps any write makes the
// cache read conversation rows again (see groupCommitter).
func (s *sqlStore) inTxCached(ctx context.Context, op string, keeps bool, fn txFunc, after func()) error {
	fn, applied := s.withDone(ctx, fn)
	var err error
	if s.group != nil {
		err = s.fail(op, s.group.do(ctx, &writeOp{fn: fn, keeps: keeps, after: after}))
	} else if err = s.runTx(ctx, s.write, nil, op, fn); err == nil && after != nil {
		after()
	}
	if err == nil {
		applied()
	}
	return err
}

// write1 runs fn, a write of one statement: like inTx, but on Postgres
// without a transaction around the statement.
func (s *sqlStore) write1(ctx context.Context, op string, fn txFunc) error {
	return s.write1Keeping(ctx, op, false, fn)
}

// write1Keeps is write1 for a write that changes no conversation row and no
// message of an existing conversation (see inTxKeeps).
func (s *sqlStore) write1Keeps(ctx context.Context, op string, fn txFunc) error {
	return s.write1Keeping(ctx, op, true, fn)
}

func (s *sqlStore) write1Keeping(ctx context.Context, op string, keeps bool, fn txFunc) error {
	return s.write1Op(ctx, op, &writeOp{fn: fn, single: true, keeps: keeps})
}

// write1Looking is write1Keeps for a write whose transaction also looks
// at data_version (see groupCommitter.lookAt), as a request's first write
// does.
func (s *sqlStore) write1Looking(ctx context.Context, op string, fn txFunc) error {
	return s.write1Op(ctx, op, &writeOp{fn: fn, single: true, keeps: true, look: true})
}

func (s *sqlStore) write1Op(ctx context.Context, op string, w *writeOp) error {
	if s.group != nil {
		return s.fail(op, s.group.do(ctx, w))
	}
	return s.fail(op, w.fn(ctx, s.write))
}

// runTx runs fn in a transaction on p and commits if fn returns nil.
func (s *sqlStore) runTx(ctx context.Context, p *pool, opts *sql.TxOptions, op string, fn txFunc) error {
	t, err := p.BeginTx(ctx, opts)
	if err != nil {
		return s.fail(op, err)
	}
	tx := &txn{Tx: t, p: p}
	defer func() { p.prepare(ctx, tx.missed) }() // after the connection is back
	if err := fn(ctx, tx); err != nil {
		_ = t.Rollback()
		return s.fail(op, err)
	}
	if err := t.Commit(); err != nil {
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
	for _, sentinel := range []error{ErrNotFound, ErrConflict, ErrBadCursor, ErrUnavailable, ErrInvalidText, ErrTokenReused} {
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
		if m, ok := c.v.(*map[string]string); ok && s == "{}" {
			*m = map[string]string{} // most metadata: no need to decode
			return nil
		}
		b = []byte(s)
	default:
		return fmt.Errorf("store: cannot scan %T as JSON", src)
	}
	return json.Unmarshal(b, c.v)
}

// usageCol scans a usage column: NULL is nil. What usageArg wrote (and
// Postgres's rendering of it) is read without encoding/json.
type usageCol struct{ u **Usage }

func (c usageCol) Scan(src any) error {
	u := new(Usage)
	switch s := src.(type) {
	case nil:
		*c.u = nil
		return nil
	case string:
		if !parseUsage(s, u) {
			if err := json.Unmarshal([]byte(s), u); err != nil {
				return err
			}
		}
	case []byte:
		if !parseUsage(s, u) {
			if err := json.Unmarshal(s, u); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("store: cannot scan %T as usage", src)
	}
	*c.u = u
	return nil
}

// parseUsage reads a JSON object of Usage's integer fields, in any order and
// with any spacing, into u. It reports false for anything else (other keys,
// escapes, non-integers, bad syntax), which encoding/json then decides.
func parseUsage[T string | []byte](s T, u *Usage) bool {
	i := 0
	space := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	expect := func(c byte) bool {
		space()
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	if !expect('{') {
		return false
	}
	if expect('}') {
		return i == len(s)
	}
	for {
		if !expect('"') {
			return false
		}
		start := i
		for i < len(s) && s[i] != '"' && s[i] != '\\' {
			i++
		}
		if i == len(s) || s[i] != '"' {
			return false
		}
		var field *int
		switch string(s[start:i]) {
		case "prompt_tokens":
			field = &u.PromptTokens
		case "completion_tokens":
			field = &u.CompletionTokens
		case "total_tokens":
			field = &u.TotalTokens
		default:
			return false
		}
		i++
		if !expect(':') {
			return false
		}
		space()
		start = i
		if i < len(s) && s[i] == '-' {
			i++
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(string(s[start:i]))
		if err != nil {
			return false
		}
		*field = n
		if expect(',') {
			continue
		}
		if !expect('}') {
			return false
		}
		space()
		return i == len(s)
	}
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

// usageArg encodes u for a usage column as json.Marshal would, without
// reflection; nil becomes NULL.
func usageArg(u *Usage) any {
	if u == nil {
		return nil
	}
	b := make([]byte, 0, 80)
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return string(append(b, '}'))
}

// nullString maps "" to NULL, for unique columns where "unset" must not clash.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PoolStats are the connection pools' statistics, by pool ("read",
// "write"; one "pool" when reads and writes share it), for the metrics.
func (s *sqlStore) PoolStats() map[string]sql.DBStats {
	if s.read == s.write {
		return map[string]sql.DBStats{"pool": s.write.Stats()}
	}
	return map[string]sql.DBStats{"read": s.read.Stats(), "write": s.write.Stats()}
}
