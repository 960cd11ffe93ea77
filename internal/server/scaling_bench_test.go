package server

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store/pgtest"
)

// BenchmarkRunCheckpointWAL is what a streaming run costs Postgres while it
// streams, for docs/SCALING.md: each iteration starts 20 background runs of
// 250 tokens at 20 ms (5 s each, checkpointed once a second) and waits for
// them; the figures are the WAL each run writes in all (its checkpoints, its
// final message and run rows) and per second of streaming, next to the
// answer's size.
func BenchmarkRunCheckpointWAL(b *testing.B) {
	const runs, tokens, delay = 20, 250, 20 * time.Millisecond
	dsn := pgtest.URL(b)
	e := newEnv(b, envOptions{dsn: dsn, engine: fakeengine.Options{Tokens: tokens, TokenDelay: delay}})
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lsn := func() (n int64) {
		if err := db.QueryRow("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	tok := e.guest()
	answer := len(strings.Join(fakeengine.Answer(tokens), ""))
	var wal int64
	var streamed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		convs := make([]string, runs)
		for i := range convs {
			convs[i] = e.newConversation(tok, "a story")
		}
		b.StartTimer()
		before, start := lsn(), time.Now()
		ids := make([]string, runs)
		for i, conv := range convs {
			r := e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{"model": testModel, "background": true}, nil)
			var run struct{ ID string }
			r.decode(b, &run)
			if r.status != 200 || run.ID == "" {
				b.Fatalf("run: %d %s", r.status, r.body)
			}
			ids[i] = run.ID
		}
		for i, id := range ids {
			for {
				var run struct{ Status string }
				e.do("GET", "/v1/conversations/"+convs[i]+"/runs/"+id, tok, nil, nil).decode(b, &run)
				if run.Status != "in_progress" {
					if run.Status != "completed" {
						b.Fatalf("run ended %s", run.Status)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		streamed += time.Since(start)
		wal += lsn() - before
	}
	perRun := float64(wal) / float64(b.N*runs)
	b.ReportMetric(perRun, "WAL-bytes/run")
	b.ReportMetric(perRun/(streamed.Seconds()/float64(b.N)), "WAL-bytes/run-s")
	b.ReportMetric(float64(answer), "answer-bytes")
}
