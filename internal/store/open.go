package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options configure Open.
type Options struct {
	// AutoMigrate applies pending schema migrations at open. When false, a
	// database whose schema is behind is an error (AUTO_MIGRATE=true fixes it).
	AutoMigrate bool
	// Logger receives migration progress and warnings; nil discards them.
	Logger *slog.Logger
	// Now is the store's clock (default time.Now), for tests that move time.
	Now func() time.Time

	// schemaVersion stops migrating after this version (0: all); tests use
	// it to build a database as an older jan left it.
	schemaVersion int
}

// Open connects to the database dsn names and prepares its schema:
//
//   - postgres://… or postgresql://… — Postgres (pgx). Pool size follows
//     pgxpool's pool_max_conns parameter when the DSN has one.
//   - sqlite:PATH, or a plain file path — SQLite at PATH (created, with its
//     directory, if missing).
//
// A database that cannot be reached or opened is an error wrapping
// ErrUnavailable. Error messages never contain the DSN's password.
func Open(ctx context.Context, dsn string, opts Options) (Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var s *sqlStore
	var err error
	switch kind, target := parseDSN(dsn); kind {
	case dialectPostgres:
		s, err = openPostgres(ctx, target)
	default:
		s, err = openSQLite(ctx, target, logger)
	}
	if err != nil {
		return nil, err
	}
	s.log, s.now = logger, opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.prepareSchema(ctx, opts.AutoMigrate, opts.schemaVersion); err != nil {
		_ = s.Close()
		return nil, err
	}
	if s.d == dialectSQLite {
		s.group = newGroupCommitter(s)
	}
	return s, nil
}

// parseDSN picks the dialect; target is what that dialect's opener takes.
func parseDSN(dsn string) (kind dialect, target string) {
	dsn = strings.TrimSpace(dsn)
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return dialectPostgres, dsn
	case strings.HasPrefix(lower, "sqlite:"):
		// sqlite:PATH; sqlite:///abs/path is accepted too.
		return dialectSQLite, strings.TrimPrefix(dsn[len("sqlite:"):], "//")
	}
	return dialectSQLite, dsn
}

// unavailable wraps err, from reaching the database at open, in ErrUnavailable.
func unavailable(what string, err error, secret string) error {
	return &opError{op: what, kind: ErrUnavailable, err: err, secret: secret}
}

// SQLite connection settings. WAL lets readers run beside the writer;
// synchronous=NORMAL skips the fsync per commit but, in WAL mode, still never
// loses a committed transaction when the process dies (only on power loss or
// an OS crash may the last commits roll back). busy_timeout makes a second
// process wait for the write lock instead of failing; _txlock=immediate makes
// every transaction take that lock at BEGIN, so two processes never deadlock
// upgrading read locks to write locks.
const (
	sqliteWriterParams = "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate"
	sqliteReaderParams = "?_busy_timeout=10000&_foreign_keys=1&_query_only=1"
)

func openSQLite(ctx context.Context, path string, log *slog.Logger) (*sqlStore, error) {
	switch {
	case path == "":
		return nil, errors.New("store: empty SQLite path (use sqlite:PATH or a file path)")
	case path == ":memory:" || strings.Contains(path, "mode=memory"):
		return nil, errors.New("store: in-memory SQLite is not supported; give a file path")
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("store: SQLite path %q must not contain '?' or '#'", path)
	case strings.Contains(path, "://"):
		return nil, fmt.Errorf("store: unsupported database URL %q (want postgres://, sqlite:PATH or a file path)", redactURL(path))
	}
	what := "open sqlite " + path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, unavailable(what, err, "")
	}
	if err := privateFiles(path); err != nil {
		return nil, unavailable(what, err, "")
	}
	// The writer is opened (and pinged) first: its first connection switches
	// a new database to WAL, which the readers then find in place.
	w, err := sql.Open("sqlite", path+sqliteWriterParams)
	if err != nil {
		return nil, unavailable(what, err, "")
	}
	w.SetMaxOpenConns(1) // SQLite has one writer; waiting here is cheaper than SQLITE_BUSY
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first connection sets the DSN's pragmas, switching to WAL among
	// them; another process doing the same at that moment can make it fail
	// with SQLITE_BUSY before busy_timeout applies: try again for a while.
	var mode string
	for attempt := 0; ; attempt++ {
		err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if err == nil {
			break
		}
		if !sqliteBusy(err) || attempt == 200 || ctx.Err() != nil {
			_ = w.Close()
			return nil, unavailable(what, err, "")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.EqualFold(mode, "wal") {
		// Some file systems (network mounts) cannot do WAL; SQLite then
		// silently keeps its rollback journal: correct, but readers block
		// behind the writer.
		log.Warn("SQLite could not switch to WAL; reads will wait for writes", "path", path, "journal_mode", mode)
	}
	var ckpt *checkpointer
	if strings.EqualFold(mode, "wal") {
		// The writer leaves checkpoints to the checkpointer (checkpoint.go).
		if _, err := w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
			_ = w.Close()
			return nil, unavailable(what, err, "")
		}
		if ckpt, err = startCheckpointer(path, log); err != nil {
			_ = w.Close()
			return nil, unavailable(what, err, "")
		}
	}
	r, err := sql.Open("sqlite", path+sqliteReaderParams)
	if err != nil {
		_ = ckpt.close()
		_ = w.Close()
		return nil, unavailable(what, err, "")
	}
	readers := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if err := r.PingContext(ctx); err != nil {
		_ = ckpt.close()
		_ = r.Close()
		_ = w.Close()
		return nil, unavailable(what, err, "")
	}
	return &sqlStore{d: dialectSQLite, read: newPool(r, dialectSQLite), write: newPool(w, dialectSQLite), ckpt: ckpt, file: path, cache: newHistoryCache()}, nil
}

// privateFiles makes the database file readable by its owner only, creating
// it (0600) if missing: SQLite gives its -wal and -shm files the mode of the
// database file, so they follow. Files left more open by an earlier version
// are tightened.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func openPostgres(ctx context.Context, dsn string) (*sqlStore, error) {
	secret := urlPassword(dsn)
	what := "open postgres " + redactURL(dsn)
	// pgxpool's parser understands the pool_* parameters and strips them
	// before the rest reaches the server.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &opError{op: "parse postgres DSN", err: err, secret: secret}
	}
	if cfg.ConnConfig.Password != "" {
		secret = cfg.ConnConfig.Password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout an unreachable server would hang requests
		// for as long as their contexts allow; fail fast so callers see 503.
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	maxConns := int(cfg.MaxConns)
	if !strings.Contains(dsn, "pool_max_conns") {
		maxConns = max(16, 4*runtime.NumCPU()) // pgxpool's own default (4) is small for a server
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, unavailable(what, err, secret)
	}
	p := newPool(db, dialectPostgres)
	return &sqlStore{d: dialectPostgres, read: p, write: p, secret: secret, cache: newHistoryCache(), pgConfig: cfg.ConnConfig}, nil
}

// urlPassword is the password in a URL-form DSN, or "".
func urlPassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// redactURL is dsn with its password replaced, fit for messages and logs.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
