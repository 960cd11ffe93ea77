package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the floor, as jan-bench does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-role" {
		os.Exit(runRole(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// A whole run on tiny sizes: every figure is measured, the table and the
// JSON carry them, and no child process outlives the run.
func TestRunTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := run(ctx, Options{Duration: 200 * time.Millisecond, Seq: 20, Clients: 4, Streams: 10, StoreBenchtime: "off", Postgres: true}, &progress)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if orphans := children(t); len(orphans) > 0 {
		t.Errorf("child processes still running after the run: %v", orphans)
	}

	rows := map[string]Row{}
	for _, r := range rep.Rows {
		rows[r.Key] = r
	}
	for _, key := range []string{"latency_p50", "latency_p99", "ttft_p50", "throughput", "cpu_per_request", "rss_idle", "rss_streams"} {
		r, ok := rows[key]
		if !ok {
			t.Errorf("no %s figure", key)
			continue
		}
		for col, v := range map[string]*float64{"direct": r.Direct, "floor": r.Floor, "jan": r.Jan} {
			if v == nil || *v <= 0 {
				t.Errorf("%s for %s = %v, want > 0", key, col, v)
			}
		}
	}
	if r := rows["responses_ttft_p50"]; r.Jan == nil || *r.Jan <= 0 {
		t.Errorf("responses_ttft_p50 = %+v, want a figure for jan", r)
	}
	for _, key := range []string{"stream_cpu_per_token", "responses_cpu_per_token", "stream_cpu_per_request", "responses_cpu_per_request"} {
		if r := rows[key]; r.Jan == nil { // a slope on tiny runs may be anything
			t.Errorf("no %s figure", key)
		}
	}
	for _, run := range []string{"jan_chat_stream_short", "jan_chat_stream_long", "jan_responses_stream_short", "jan_responses_stream_long"} {
		if rep.Runs[run].Requests == 0 {
			t.Errorf("no requests in the %s run", run)
		}
	}
	if r := rows["throughput"]; r.JanFull == nil || *r.JanFull <= 0 {
		t.Errorf("no full-path throughput: %+v", r)
	}
	if p := rep.Postgres; p == nil && rep.PostgresSkipped == "" {
		t.Error("no Postgres figures and no reason")
	} else if p != nil && (p.Load.Requests == 0 || p.Load.Errors > 0 || p.Statements < 1 || p.WALBytes <= 0 || p.PGCPU < 0 || len(p.Top) == 0) {
		t.Errorf("Postgres figures: %+v", p)
	}
	if c := rows["errors"].Checks; len(c) != 1 || !c[0].Pass {
		t.Errorf("errors under load: %+v", c)
	}

	var table bytes.Buffer
	if err := rep.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"machine", "chat latency p50", "time to first token p50", "throughput, 4 clients", "per open stream", "targets met"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Rows) != len(rep.Rows) {
		t.Errorf("JSON does not round-trip (%v):\n%s", err, js.String())
	}
}

// children lists the live processes whose parent is this one.
func children(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs on Linux, which has /proc: %v", err)
		}
		t.Skip("no /proc")
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, e.Name()+" "+string(b[:i+1]))
		}
	}
	return out
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(3, 1, 2), 0.5, 2 * time.Millisecond},
		{"median of even is the lower", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(100, 99, 98, 97, 96, 95, 94, 93, 92, 91, 90, 89, 88, 87, 86, 85, 84, 83, 82, 81, 80, 79, 78, 77, 76, 75, 74, 73, 72, 71, 70, 69, 68, 67, 66, 65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 0.99, 99 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.in, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
		})
	}
}

func TestParseStoreBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/janhq/jan/internal/store
cpu: Intel(R) Xeon(R) Processor
BenchmarkAppendTurn/sqlite/serial-2         	   21610	    166110 ns/op	      6020 turns/s	    5678 B/op	     120 allocs/op
BenchmarkAppendTurn/sqlite/parallel-2       	   25005	    143926 ns/op	      6948 turns/s
PASS
`
	res, err := parseStoreBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Serial != 6020 || res.Parallel != 6948 {
		t.Errorf("got serial %v, parallel %v; want 6020, 6948", res.Serial, res.Parallel)
	}
	if _, err := parseStoreBench("PASS\n"); err == nil {
		t.Error("no benchmark lines: want an error")
	}
}

// -ab runs the full path through each binary in turn and prints a line for
// each, with its ratios to the first; it wants two binaries that exist.
func TestAB(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "jan-a"), filepath.Join(dir, "jan-b")
	if out, err := exec.Command("go", "build", "-o", a, "github.com/janhq/jan/cmd/jan").CombinedOutput(); err != nil {
		t.Fatalf("go build jan: %v\n%s", err, out)
	}
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{a, a + "," + filepath.Join(dir, "missing"), a + "," + dir} {
		if _, err := abBinaries(bad); err == nil {
			t.Errorf("abBinaries(%q) accepted", bad)
		}
	}
	bins, err := abBinaries(a + "," + b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, progress bytes.Buffer
	if err := runAB(ctx, Options{Duration: 2 * time.Second, Clients: 4}, bins, &out, &progress); err != nil {
		t.Fatalf("runAB: %v\nprogress:\n%s", err, progress.String())
	}
	if orphans := children(t); len(orphans) > 0 {
		t.Errorf("child processes still running after the run: %v", orphans)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], a+" ") || !strings.HasPrefix(lines[2], b+" ") {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if rps, err := strconv.ParseFloat(f[1], 64); err != nil || rps <= 0 || f[4] != "0" {
			t.Errorf("line %q: want req/s > 0 and no errors", l)
		}
	}
	if !strings.Contains(lines[1], "×1.000") {
		t.Errorf("the first binary's ratios to itself: %q", lines[1])
	}
}
