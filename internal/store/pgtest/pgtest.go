// Package pgtest gives tests a real, throwaway PostgreSQL database.
//
// URL returns the address of a fresh, empty database for each call, so tests
// never see each other's data. The server is JAN_TEST_POSTGRES_URL when set
// (its role must be allowed to CREATE DATABASE); otherwise a private cluster
// is started once per test binary from the local PostgreSQL binaries (initdb
// into a temporary directory, listening only on a Unix socket there), and
// Stop, called from TestMain, removes it:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pgtest.Stop()
//		os.Exit(code)
//	}
//
// A binary that never calls Stop (or is killed) leaves its cluster running
// until the next pgtest start, which removes clusters whose owner is gone.
//
// When no Postgres can be had, tests skip with the reason — or fail, when
// CI=true or JAN_TEST_REQUIRE contains "postgres", so CI never passes by
// skipping.
//
// The throwaway cluster runs with fsync=off (it is thrown away anyway); set
// JAN_TEST_PG_FSYNC=on to measure with durable commits.
package pgtest

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

var (
	startOnce sync.Once
	server    *pgServer // the server URL hands out databases on, once started
	startErr  error     // why there is none

	dbCount atomic.Int64
)

// pgServer is a Postgres server and an admin connection to it.
type pgServer struct {
	base    *url.URL // a URL to the server; its path is replaced per database
	admin   *sql.DB
	cluster *cluster // nil for JAN_TEST_POSTGRES_URL
}

// URL returns a postgres:// URL to a new, empty database that is dropped when
// t ends. It skips or fails t (see the package doc) if Postgres is unavailable.
func URL(t testing.TB) string {
	t.Helper()
	startOnce.Do(func() { server, startErr = start() })
	if startErr != nil {
		if required() {
			t.Fatalf("pgtest: Postgres is required here (CI=true or JAN_TEST_REQUIRE) but unavailable: %v", startErr)
		}
		t.Skipf("pgtest: Postgres unavailable, skipping: %v", startErr)
	}
	name := fmt.Sprintf("jan_test_%d_%d", os.Getpid(), dbCount.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := server.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that leaked a connection must not leak the database.
		if _, err := server.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *server.base
	u.Path = "/" + name
	return u.String()
}

// Stop stops the cluster this binary started, if any, and removes its files.
// Safe to call when nothing was started.
func Stop() {
	if server == nil {
		return
	}
	_ = server.admin.Close()
	if server.cluster != nil {
		server.cluster.stop()
	}
	server = nil
}

// required reports whether a missing Postgres must fail tests.
func required() bool {
	return os.Getenv("CI") == "true" || strings.Contains(os.Getenv("JAN_TEST_REQUIRE"), "postgres")
}

func start() (*pgServer, error) {
	s := &pgServer{}
	raw := os.Getenv("JAN_TEST_POSTGRES_URL")
	if raw == "" {
		c, err := startCluster()
		if err != nil {
			return nil, err
		}
		s.cluster, raw = c, c.url("postgres")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		s.stopCluster()
		return nil, fmt.Errorf("JAN_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	s.base = u
	admin, err := sql.Open("pgx", raw)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = admin.PingContext(ctx)
	}
	if err != nil {
		s.stopCluster()
		return nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	admin.SetMaxOpenConns(2)
	s.admin = admin
	return s, nil
}

func (s *pgServer) stopCluster() {
	if s.cluster != nil {
		s.cluster.stop()
	}
}

// fsyncSetting is the cluster's fsync: off unless JAN_TEST_PG_FSYNC says.
func fsyncSetting() string {
	return cmp.Or(os.Getenv("JAN_TEST_PG_FSYNC"), "off")
}

// AwaitListeners waits until n connections LISTEN on dsn's database: a
// server starts listening for notifications moments after it starts, and
// a notification sent before then is lost (its poll hears it later).
func AwaitListeners(t testing.TB, dsn string, n int) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var got int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: %d of %d connections LISTEN (%v)", got, n, err)
		}
	}
}
