package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/janhq/jan/internal/store/pgtest"
)

// pgSettings make the cluster an honest one: durable commits (the
// throwaway default is fsync=off), and pg_stat_statements to count what
// each request asks of the database.
var pgSettings = []string{"fsync=on", "synchronous_commit=on", "shared_preload_libraries=pg_stat_statements",
	"pg_stat_statements.track_utility=on", "pg_stat_statements.max=1000"}

// pgResult is the full path on Postgres: the same workload, clients and
// duration as on SQLite, against a second jan serve on a local Postgres.
type pgResult struct {
	Version  string     `json:"version"`
	Settings string     `json:"settings"`
	Load     loadResult `json:"load"`
	// Per request, over the measured run:
	PostgresCPU time.Duration `json:"postgres_cpu_ns"` // every server process's CPU
	Statements  float64       `json:"statements"`      // executed statements, BEGIN and COMMIT included: the round trips
	Commits     float64       `json:"commits"`         // transactions committed (a lone statement is one)
	WALBytes    float64       `json:"wal_bytes"`
	Top         []pgStatement `json:"top_statements"` // by calls
}

type pgStatement struct {
	Query      string  `json:"query"`
	PerRequest float64 `json:"per_request"`
	MeanMS     float64 `json:"mean_ms"`
}

// pgSkipped says why there is no Postgres figure, for the report; in CI (or
// with JAN_TEST_REQUIRE=postgres) a missing Postgres is an error instead.
type pgSkipped struct{ Reason string }

func (e *pgSkipped) Error() string { return "postgres unavailable: " + e.Reason }

// measurePostgres starts a Postgres cluster and jan serve on it, then
// runs the full path there as on SQLite.
func measurePostgres(ctx context.Context, o Options, bin, engineURL string, convsPerUser int, logw io.Writer) (*pgResult, error) {
	fmt.Fprintln(logw, "throughput: jan full path on Postgres, starting a cluster (fsync on, pg_stat_statements)…")
	cl, err := pgtest.StartCluster(pgSettings...)
	if err != nil {
		if os.Getenv("CI") == "true" || strings.Contains(os.Getenv("JAN_TEST_REQUIRE"), "postgres") {
			return nil, fmt.Errorf("postgres is required here (CI=true or JAN_TEST_REQUIRE) but: %w", err)
		}
		return nil, &pgSkipped{err.Error()}
	}
	defer cl.Stop()
	admin, err := sql.Open("pgx", cl.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE jan"); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	db, err := sql.Open("pgx", cl.URL("jan"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	res := &pgResult{Settings: strings.Join(pgSettings[:2], ", ")}
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION pg_stat_statements"); err != nil {
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&res.Version); err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "jan-bench-pg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	url := "http://" + addrs[0]
	jan, err := startProc("jan (postgres)", bin, []string{"serve", "--addr", addrs[0], "--data-dir", dir, "--no-detect",
		"--engine", engineURL, "--db", cl.URL("jan")}, janEnv)
	if err != nil {
		return nil, err
	}
	defer jan.stop()
	if err := jan.waitHTTP(ctx, url+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	hc := newClient(max(64, 2*o.Clients))
	defer hc.CloseIdleConnections()
	full, err := newFullPath(ctx, hc, url, o.Clients, convsPerUser)
	if err != nil {
		return nil, err
	}
	pid, err := cl.PID()
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(logw, "throughput: jan full path on Postgres, %d clients for %s…\n", o.Clients, o.Duration)
	load(ctx, hc, o.Clients, min(o.Duration/5, time.Second), full.next) // warm-up, not counted
	var commits0, wal0 int64
	if _, err := db.ExecContext(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		return nil, err
	}
	err = db.QueryRowContext(ctx, `SELECT xact_commit, pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database WHERE datname = 'jan'`).Scan(&commits0, &wal0)
	if err != nil {
		return nil, err
	}
	janCPU0, err1 := jan.cpu()
	pgCPU0, err2 := treeCPU(pid)
	busy0, total0, err3 := machineCPU()
	res.Load = load(ctx, hc, o.Clients, o.Duration, full.next)
	janCPU1, err4 := jan.cpu()
	pgCPU1, err5 := treeCPU(pid)
	busy1, total1, err6 := machineCPU()
	if err := errors.Join(ctx.Err(), err1, err2, err3, err4, err5, err6); err != nil {
		return nil, err
	}
	res.Load.CPU = janCPU1 - janCPU0
	if total1 > total0 {
		res.Load.Busy = float64(busy1-busy0) / float64(total1-total0)
	}
	n := float64(max(res.Load.Requests+res.Load.Errors, 1))
	res.PostgresCPU = time.Duration(float64(pgCPU1-pgCPU0) / n)

	// Statistics reach pg_stat_database when a backend goes idle; give the
	// pool's connections a moment.
	time.Sleep(600 * time.Millisecond)
	var commits1, wal1 int64
	var statements float64
	err = db.QueryRowContext(ctx, `SELECT xact_commit, pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database WHERE datname = 'jan'`).Scan(&commits1, &wal1)
	if err == nil {
		err = db.QueryRowContext(ctx, `SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'jan') AND query NOT LIKE '%pg_stat%'`).Scan(&statements)
	}
	if err != nil {
		return nil, err
	}
	res.Statements, res.Commits, res.WALBytes = statements/n, float64(commits1-commits0)/n, float64(wal1-wal0)/n
	rows, err := db.QueryContext(ctx, `SELECT query, calls, mean_exec_time FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'jan') AND query NOT LIKE '%pg_stat%'
		ORDER BY calls DESC LIMIT 12`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var s pgStatement
		var calls float64
		if err := rows.Scan(&s.Query, &calls, &s.MeanMS); err != nil {
			return nil, err
		}
		s.Query, s.PerRequest = strings.Join(strings.Fields(s.Query), " "), calls/n
		res.Top = append(res.Top, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, full.checkStored(ctx, hc)
}

// treeCPU is the user+system CPU time of process pid and its children so
// far (a Postgres server: the postmaster and its backends).
func treeCPU(pid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:])) // f[1] is the parent's pid, f[11] utime, f[12] stime
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); id != pid && ppid != pid {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
