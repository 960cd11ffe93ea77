package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Endpoint order in every per-endpoint slice below.
const (
	direct = iota
	floor
	janPlain
	janFull // jan with a token per client, an Idempotency-Key and a conversation
)

// results are the raw measurements of one run.
type results struct {
	machine machine
	opts    Options
	latency [3][]time.Duration
	ttft    [3][]time.Duration
	// respTTFT is jan's time to the first response.output_text.delta,
	// measured interleaved with ttft.
	respTTFT []time.Duration
	// load is each throughput run, with the CPU time per request of the
	// process under test: the engine (direct), the floor, jan, jan.
	load [4]loadResult
	// fullFloor is the floor again, measured in turns with the full path
	// (f J J f f J J f …, see fullRounds): the full path's ratio is to
	// this, measured in the same seconds, not to a floor run a minute
	// before, which this machine's drift moves more than the figure itself.
	fullFloor loadResult
	// streams is jan streaming: [path][length], path 0 chat completions
	// and 1 the Responses API, length 0 shortStream tokens and 1
	// longStream.
	streams      [2][2]loadResult
	rssIdle      [3]int64 // KiB of the engine, the floor and jan
	rssStreams   [3]int64 // the same with opts.Streams streams open through each
	convsPerUser int
	store        *storeResult
	postgres     *pgResult // the full path on Postgres; nil when skipped
	pgSkipped    string    // why
}

// run starts the stack, measures everything and returns the report.
// Progress goes to logw.
func run(ctx context.Context, o Options, logw io.Writer) (*Report, error) {
	o.defaults()
	r := &results{opts: o, machine: describeMachine()}
	s, err := startStack(ctx, o.JanBin, logw)
	if err != nil {
		return nil, err
	}
	defer s.close()
	rep, err := measure(ctx, o, r, s, logw)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, s.explain(err)
	}
	return rep, nil
}

// measure takes every figure on a started stack.
func measure(ctx context.Context, o Options, r *results, s *stack, logw io.Writer) (*Report, error) {
	serving := [3]*proc{s.engine, s.floor, s.jan}
	hc := newClient(max(64, 2*o.Clients))
	defer hc.CloseIdleConnections()
	token, err := guest(ctx, hc, s.janURL)
	if err != nil {
		return nil, err
	}
	eps := []endpoint{{"direct", s.engineURL, token, false}, {"floor", s.floorURL, token, false}, {"jan", s.janURL, token, false}}

	fmt.Fprintln(logw, "memory: idle, then with", o.Streams, "open streams…")
	if _, err := sequential(ctx, eps, 0, 20, func(ep endpoint) (time.Duration, error) { return completionTime(ctx, hc, ep) }); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	for i, p := range serving {
		if r.rssIdle[i], err = p.rssKB(); err != nil {
			return nil, err
		}
	}
	for i, ep := range eps {
		err := holdStreams(ctx, ep, o.Streams, func() (err error) {
			r.rssStreams[i], err = serving[i].rssKB()
			return err
		})
		if err != nil {
			return nil, err
		}
		time.Sleep(500 * time.Millisecond) // closed streams wind down before the next figure
	}

	warm := min(200, max(o.Seq/10, 10))
	fmt.Fprintf(logw, "latency: %d sequential chat completions per target…\n", o.Seq)
	lat, err := sequential(ctx, eps, warm, o.Seq, func(ep endpoint) (time.Duration, error) { return completionTime(ctx, hc, ep) })
	if err != nil {
		return nil, err
	}
	copy(r.latency[:], lat)
	fmt.Fprintf(logw, "time to first token: %d sequential streams per target, and through /v1/responses…\n", max(o.Seq/2, 1))
	withResponses := append(eps, endpoint{"jan responses", s.janURL, token, true})
	ttft, err := sequential(ctx, withResponses, warm/2, max(o.Seq/2, 1), func(ep endpoint) (time.Duration, error) { return firstTokenTime(ctx, hc, ep) })
	if err != nil {
		return nil, err
	}
	copy(r.ttft[:], ttft)
	r.respTTFT = ttft[3]

	plain := func(ep endpoint) func(int, int) call {
		c := call{url: ep.base + "/v1/chat/completions", token: ep.token, body: plainBody}
		return func(int, int) call { return c }
	}
	// Two halves in the order direct, floor, jan, jan, floor, direct, so a
	// machine that speeds up or slows down during the runs favours none.
	fmt.Fprintf(logw, "throughput: direct, floor, jan, jan, floor, direct; %d clients for %s each…\n", o.Clients, o.Duration/2)
	for _, i := range []int{direct, floor, janPlain, janPlain, floor, direct} {
		half, err := measureLoad(ctx, hc, o.Clients, o.Duration/2, serving[i], plain(eps[i]))
		if err != nil {
			return nil, err
		}
		r.load[i] = r.load[i].add(half)
	}
	// Streams of two lengths through each path: the difference is the CPU
	// per streamed token, apart from what a request costs whatever its
	// length. Eight runs, ordered so that drift favours none.
	fmt.Fprintf(logw, "streamed tokens: jan chat and responses, %d and %d tokens; %d clients for %s each, twice…\n",
		shortStream, longStream, o.Clients, o.Duration/8)
	for _, pl := range [][2]int{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 1}, {1, 1}, {1, 0}, {0, 0}} {
		c := call{url: s.janURL + "/v1/chat/completions", token: token, body: streamBodies[0][pl[1]]}
		if pl[0] == 1 {
			c = call{url: s.janURL + "/v1/responses", token: token, body: streamBodies[1][pl[1]]}
		}
		half, err := measureLoad(ctx, hc, o.Clients, o.Duration/8, s.jan, func(int, int) call { return c })
		if err != nil {
			return nil, err
		}
		r.streams[pl[0]][pl[1]] = r.streams[pl[0]][pl[1]].add(half)
	}
	// Enough conversations that none gets more than 20 turns in the run,
	// judging by the plain run (the full path is not faster), within reason.
	expected := r.load[janPlain].rps() * o.Duration.Seconds() * 1.2
	r.convsPerUser = min(max(int(math.Ceil(expected/float64(o.Clients)/20)), 2), 400)
	fmt.Fprintf(logw, "throughput: jan full path, preparing %d guests × %d conversations…\n", o.Clients, r.convsPerUser)
	fp, err := newFullPath(ctx, hc, s.janURL, o.Clients, r.convsPerUser)
	if err != nil {
		return nil, err
	}
	rounds, round := fullRounds(o.Duration)
	fmt.Fprintf(logw, "throughput: floor and jan full path in turns (f J J f …), %d clients, %d rounds of %s each…\n", o.Clients, rounds, round)
	for k := range 2 * rounds {
		p, next := s.floor, plain(eps[floor])
		full := (k+1)/2%2 == 1 // f J J f f J J f …
		if full {
			p, next = s.jan, fp.next
		}
		part, err := measureLoad(ctx, hc, o.Clients, round, p, next)
		if err != nil {
			return nil, err
		}
		if full {
			r.load[janFull] = r.load[janFull].add(part)
		} else {
			r.fullFloor = r.fullFloor.add(part)
		}
	}
	if err := fp.checkStored(ctx, hc); err != nil {
		return nil, err
	}
	if o.Postgres {
		var skipped *pgSkipped
		r.postgres, err = measurePostgres(ctx, o, s.bin, s.engineURL, r.convsPerUser, logw)
		if errors.As(err, &skipped) {
			r.pgSkipped, err = skipped.Reason, nil
			fmt.Fprintln(logw, "throughput: no Postgres here, skipping its figures:", skipped.Reason)
		}
		if err != nil {
			return nil, fmt.Errorf("full path on postgres: %w", err)
		}
	}

	if o.StoreBenchtime != "off" {
		fmt.Fprintln(logw, "store: go test -bench BenchmarkAppendTurn/sqlite…")
		if r.store, err = storeBench(ctx, o.StoreBenchtime); err != nil {
			return nil, err
		}
	}
	return newReport(r), nil
}

// fullRounds splits d, the full path's duration (and the floor's around
// it), into rounds of about a second each, at least two: the floor and the
// full path take turns, so that the machine's drift — its speed moved by a
// tenth within a minute here — falls on both alike. With two halves each
// (f J J f) the ratio moved by ±0.05 between runs of one binary; turns of a
// second are what -ab measures with, where two copies of one binary agree
// within 2 %.
func fullRounds(d time.Duration) (n int, round time.Duration) {
	n = max(int((d+abRound/2)/abRound), 2)
	return n, d / time.Duration(n)
}

// measureLoad warms up (a fifth of the run, at most a second, not counted),
// then runs the load for d, reading p's CPU time and the machine's across it.
func measureLoad(ctx context.Context, hc *http.Client, clients int, d time.Duration, p *proc, next func(client, i int) call) (loadResult, error) {
	load(ctx, hc, clients, min(d/5, time.Second), next)
	before, err1 := p.cpu()
	busy0, total0, err2 := machineCPU()
	res := load(ctx, hc, clients, d, next)
	after, err3 := p.cpu()
	busy1, total1, err4 := machineCPU()
	if err := errors.Join(ctx.Err(), err1, err2, err3, err4); err != nil {
		return loadResult{}, err
	}
	res.CPU = after - before
	if total1 > total0 {
		res.Busy = float64(busy1-busy0) / float64(total1-total0)
	}
	return res, nil
}

// machineCPU is the machine's busy and total CPU time so far, in ticks
// (the first line of /proc/stat; idle and iowait are not busy).
func machineCPU() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// machine is where the figures were measured.
type machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
	Date   string `json:"date"`
}

func describeMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out)) // the toolchain that builds jan
	}
	return m
}

// storeResult is BenchmarkAppendTurn on SQLite (internal/store), run with
// go test in its own process.
type storeResult struct {
	Command  string  `json:"command"`
	Serial   float64 `json:"serial_turns_per_s"`
	Parallel float64 `json:"parallel_turns_per_s"`
}

func storeBench(ctx context.Context, benchtime string) (*storeResult, error) {
	args := []string{"test", "github.com/janhq/jan/internal/store", "-run", "^$", "-bench", "BenchmarkAppendTurn/sqlite", "-benchtime", benchtime, "-count", "1"}
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("store benchmark: %w\n%s", err, out)
	}
	res, err := parseStoreBench(string(out))
	if err != nil {
		return nil, err
	}
	res.Command = "go " + strings.Join(args, " ")
	return res, nil
}

var storeLine = regexp.MustCompile(`(?m)^BenchmarkAppendTurn/sqlite/(serial|parallel)(?:-\d+)?\s.*?([0-9.e+]+) turns/s`)

func parseStoreBench(out string) (*storeResult, error) {
	res := &storeResult{}
	for _, m := range storeLine.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("store benchmark: %q: %w", m[0], err)
		}
		if m[1] == "serial" {
			res.Serial = v
		} else {
			res.Parallel = v
		}
	}
	if res.Serial == 0 || res.Parallel == 0 {
		return nil, fmt.Errorf("store benchmark: no turns/s for sqlite/serial and sqlite/parallel in:\n%s", out)
	}
	return res, nil
}
