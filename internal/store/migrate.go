package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/janhq/jan/migrations"
)

// migration is one embedded migrations/<dialect>/NNNN_name.sql file.
type migration struct {
	version int
	name    string // file name, for logs
	sql     string
}

// loadMigrations reads the dialect's migration files in version order.
func loadMigrations(d dialect) ([]migration, error) {
	dir := d.String()
	entries, err := fs.ReadDir(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	var list []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(migrations.FS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		list = append(list, migration{version: v, name: e.Name(), sql: string(body)})
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no migrations embedded for %s", dir)
	}
	slices.SortFunc(list, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(list); i++ {
		if list[i].version == list[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", list[i-1].name, list[i].name)
		}
	}
	return list, nil
}

// appliedVersions reads schema_migrations without writing anything; a
// database that has never been migrated has none.
func (s *sqlStore) appliedVersions(ctx context.Context) (map[int]bool, error) {
	var n int
	if err := s.queryRow(ctx, s.read, s.d.tableExistsQuery(), "schema_migrations").Scan(&n); err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	if n == 0 {
		return applied, nil
	}
	rows, err := s.query(ctx, s.read, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// prepareSchema brings the schema up to date (autoMigrate) or checks that it
// is. It is safe when several processes start at once on one database.
func (s *sqlStore) prepareSchema(ctx context.Context, autoMigrate bool, upTo int) error {
	all, err := loadMigrations(s.d)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if upTo > 0 {
		all = slices.DeleteFunc(all, func(m migration) bool { return m.version > upTo })
	}
	applied, err := s.appliedVersions(ctx)
	if err != nil {
		return s.fail("read schema version", err)
	}
	var pending []migration
	for _, m := range all {
		if !applied[m.version] {
			pending = append(pending, m)
		}
	}
	latest := all[len(all)-1].version
	for v := range applied {
		if v > latest {
			s.log.Warn("database schema is newer than this jan; upgrade jan",
				"schema_version", v, "known_version", latest)
			break
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if !autoMigrate {
		return fmt.Errorf("store: the %s database schema is behind (%d of %d migrations pending, next %s); "+
			"start jan with AUTO_MIGRATE=true to apply them", s.d, len(pending), len(all), pending[0].name)
	}
	return s.migrate(ctx, pending)
}

// migrate applies ms in order, each in its own transaction that first
// re-checks schema_migrations: another process may have applied it while we
// waited for the lock (Postgres advisory lock) or the write lock (SQLite
// BEGIN IMMEDIATE).
func (s *sqlStore) migrate(ctx context.Context, ms []migration) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return s.fail("migrate", err)
	}
	defer conn.Close()
	unlock, err := s.d.lockMigrations(ctx, conn)
	if err != nil {
		return s.fail("migrate: lock", err)
	}
	defer unlock()
	if _, err := conn.ExecContext(ctx,
		"CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"); err != nil {
		return s.fail("migrate: create schema_migrations", err)
	}
	start, n := time.Now(), 0
	for _, m := range ms {
		ran, err := s.applyMigration(ctx, conn, m)
		if err != nil {
			return s.fail("migrate "+m.name, err)
		}
		if ran {
			n++
		}
	}
	if n > 0 {
		// One line at Info: a new database runs every migration, and two
		// lines each (26 today) came before jan up's banner.
		s.log.Info("migrated the database schema", "dialect", s.d.String(), "migrations", n,
			"to", ms[len(ms)-1].name, "duration", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// applyMigration applies m unless another process has; ran says whether
// this one did.
func (s *sqlStore) applyMigration(ctx context.Context, conn *sql.Conn, m migration) (ran bool, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var done int
	if err := s.queryRow(ctx, tx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&done); err != nil {
		return false, err
	}
	if done > 0 {
		return false, nil // another process applied it first
	}
	start := time.Now()
	s.log.Debug("applying database migration", "dialect", s.d.String(), "migration", m.name)
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := s.exec(ctx, tx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.version, m.name); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	s.log.Debug("applied database migration", "migration", m.name, "duration", time.Since(start).Round(time.Millisecond))
	return true, nil
}
