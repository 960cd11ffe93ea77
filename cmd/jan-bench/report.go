package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Targets, relative to the floor measured in the same run where they can be.
const (
	targetAddedP50    = 0.2  // ms over the floor's p50
	targetAddedP99    = 1.0  // ms over the floor's p99
	targetAddedTTFT   = 0.3  // ms over the floor's TTFT p50
	targetRespTTFT    = 0.2  // ms of the Responses API's first delta over jan's chat TTFT p50
	targetRespCPU     = 1.5  // the Responses API's CPU per streamed token ÷ chat's
	targetPlainRatio  = 0.9  // jan's plain throughput ÷ the floor's
	targetFullRatio   = 0.5  // jan's full-path throughput ÷ the floor's
	targetIdleMB      = 30   // jan's RSS idle
	targetStreamKB    = 64   // jan's RSS per open stream
	targetStoreTurnsS = 5000 // SQLite turns/s
)

// Report is a run's figures side by side, with the targets they are held
// to. It prints as one table (writeTable) or as JSON (writeJSON).
type Report struct {
	Machine machine               `json:"machine"`
	Command string                `json:"command"`
	Options reportOpts            `json:"options"`
	Rows    []Row                 `json:"figures"`
	Runs    map[string]loadResult `json:"throughput_runs"`
	Store   *storeResult          `json:"store,omitempty"`
	// Postgres is the full path on Postgres next to SQLite's; PostgresSkipped
	// says why it is missing.
	Postgres        *pgReport `json:"postgres,omitempty"`
	PostgresSkipped string    `json:"postgres_skipped,omitempty"`
	Met             int       `json:"targets_met"`
	Missed          int       `json:"targets_missed"`
}

type reportOpts struct {
	Duration     string `json:"duration"`
	Seq          int    `json:"seq"`
	TTFTRequests int    `json:"ttft_requests"`
	Clients      int    `json:"clients"`
	Streams      int    `json:"streams"`
	ConvsPerUser int    `json:"conversations_per_client"`
}

// Row is one figure for each column; nil where it does not apply.
type Row struct {
	Key     string   `json:"key"`
	Label   string   `json:"label"`
	Unit    string   `json:"unit"`
	Direct  *float64 `json:"direct"`
	Floor   *float64 `json:"floor"`
	Jan     *float64 `json:"jan"`
	JanFull *float64 `json:"jan_full"`
	Checks  []Check  `json:"checks,omitempty"`
	sub     bool     // printed indented under the row above
}

// Check is one target and whether it was met, with the margin in words.
type Check struct {
	Target string `json:"target"`
	Pass   bool   `json:"pass"`
	Margin string `json:"margin"`
}

func f(v float64) *float64 { return &v }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile (0 < p ≤ 1).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// atMost checks value ≤ limit.
func atMost(target string, value, limit float64, unit string) Check {
	if value <= limit {
		return Check{target, true, fmt.Sprintf("%s %s to spare", num(limit-value, unit), unit)}
	}
	return Check{target, false, fmt.Sprintf("over by %s %s", num(value-limit, unit), unit)}
}

// atLeastRatio checks value ≥ ratio × base.
func atLeastRatio(target string, value, base, ratio float64) Check {
	got := value / base
	return Check{target, got >= ratio, fmt.Sprintf("×%.2f (need ×%.2f)", got, ratio)}
}

func newReport(r *results) *Report {
	o := r.opts
	runs := map[string]loadResult{"direct": r.load[direct], "floor": r.load[floor], "jan": r.load[janPlain], "jan_full": r.load[janFull],
		"floor_beside_full":     r.fullFloor,
		"jan_chat_stream_short": r.streams[0][0], "jan_chat_stream_long": r.streams[0][1],
		"jan_responses_stream_short": r.streams[1][0], "jan_responses_stream_long": r.streams[1][1]}
	rep := &Report{Machine: r.machine, Store: r.store, Runs: runs, Options: reportOpts{
		Duration: o.Duration.String(), Seq: o.Seq, TTFTRequests: len(r.ttft[0]), Clients: o.Clients, Streams: o.Streams, ConvsPerUser: r.convsPerUser,
	}}
	add := func(key, label, unit string, vals [4]*float64, checks ...Check) {
		label, sub := strings.CutPrefix(label, "  ")
		rep.Rows = append(rep.Rows, Row{key, label, unit, vals[0], vals[1], vals[2], vals[3], checks, sub})
	}
	pct := func(ds [3][]time.Duration, p float64) (v [4]*float64) {
		for i := range ds {
			v[i] = f(ms(percentile(ds[i], p)))
		}
		return v
	}
	added := func(v [4]*float64) [4]*float64 { return [4]*float64{nil, f(*v[1] - *v[0]), f(*v[2] - *v[0]), nil} }

	p50, p99 := pct(r.latency, 0.50), pct(r.latency, 0.99)
	add("latency_p50", "chat latency p50", "ms", p50,
		atMost(fmt.Sprintf("jan ≤ floor + %.1f ms", targetAddedP50), *p50[2], *p50[1]+targetAddedP50, "ms"))
	add("latency_p99", "chat latency p99", "ms", p99,
		atMost(fmt.Sprintf("jan ≤ floor + %.0f ms", targetAddedP99), *p99[2], *p99[1]+targetAddedP99, "ms"))
	add("added_p50", "  added p50 (− direct)", "ms", added(p50))
	add("added_p99", "  added p99 (− direct)", "ms", added(p99))
	t50, t99 := pct(r.ttft, 0.50), pct(r.ttft, 0.99)
	add("ttft_p50", "time to first token p50", "ms", t50,
		atMost(fmt.Sprintf("jan ≤ floor + %.1f ms", targetAddedTTFT), *t50[2], *t50[1]+targetAddedTTFT, "ms"))
	add("ttft_p99", "time to first token p99", "ms", t99)
	add("added_ttft_p50", "  added TTFT p50 (− direct)", "ms", added(t50))
	jan := func(v float64) [4]*float64 { return [4]*float64{nil, nil, f(v), nil} }
	rt50 := ms(percentile(r.respTTFT, 0.50))
	add("responses_ttft_p50", "  /v1/responses: first text delta p50", "ms", jan(rt50),
		atMost(fmt.Sprintf("jan ≤ jan chat + %.1f ms", targetRespTTFT), rt50, *t50[2]+targetRespTTFT, "ms"))
	add("responses_ttft_p99", "  /v1/responses: first text delta p99", "ms", jan(ms(percentile(r.respTTFT, 0.99))))

	var rps, errs, cpu, busy [4]*float64
	var totalErrs int64
	streamRuns := []loadResult{r.streams[0][0], r.streams[0][1], r.streams[1][0], r.streams[1][1]}
	for _, l := range streamRuns {
		totalErrs += l.Errors
	}
	for i, l := range r.load {
		rps[i], errs[i], cpu[i], busy[i] = f(l.rps()), f(float64(l.Errors)), f(float64(l.cpuPerRequest())/float64(time.Microsecond)), f(100*l.Busy)
		totalErrs += l.Errors
	}
	fullFloor := r.fullFloor.rps()
	add("throughput", fmt.Sprintf("throughput, %d clients", o.Clients), "req/s", rps,
		atLeastRatio(fmt.Sprintf("jan ≥ %.1f × floor", targetPlainRatio), *rps[2], *rps[1], targetPlainRatio),
		atLeastRatio(fmt.Sprintf("full ≥ %.1f × floor beside it", targetFullRatio), *rps[3], fullFloor, targetFullRatio))
	add("throughput_floor_beside_full", "  floor, around the full path", "req/s", [4]*float64{nil, f(fullFloor), nil, nil})
	errCheck := Check{"none", totalErrs == 0, "0 errors"}
	if totalErrs > 0 {
		for _, l := range append(r.load[:], streamRuns...) {
			if l.FirstError != "" {
				errCheck.Margin = fmt.Sprintf("%d errors; first: %.200s", totalErrs, l.FirstError)
				break
			}
		}
	}
	add("errors", "  errors", "count", errs, errCheck)
	add("cpu_per_request", "  CPU per request", "µs", cpu)
	add("machine_busy", "  machine CPU busy", "%", busy)
	// CPU per streamed token: the slope between the two stream lengths;
	// what is left of a short stream's CPU is the cost of a request.
	slope := func(p int) (perToken, perRequest float64) {
		short, long := r.streams[p][0].cpuPerRequest(), r.streams[p][1].cpuPerRequest()
		perToken = float64(long-short) / float64(time.Microsecond) / float64(longStream-shortStream)
		return perToken, float64(short)/float64(time.Microsecond) - perToken*shortStream
	}
	chatTok, chatReq := slope(0)
	respTok, respReq := slope(1)
	add("stream_cpu_per_token", fmt.Sprintf("CPU per streamed token (%d vs %d), chat", shortStream, longStream), "µs", jan(chatTok))
	add("responses_cpu_per_token", "  /v1/responses (stored)", "µs", jan(respTok),
		Check{fmt.Sprintf("≤ %.1f × chat", targetRespCPU), respTok <= targetRespCPU*chatTok, fmt.Sprintf("×%.2f", respTok/chatTok)})
	add("stream_cpu_per_request", "CPU per stream besides tokens, chat", "µs", jan(chatReq))
	add("responses_cpu_per_request", "  /v1/responses (stored)", "µs", jan(respReq))

	kb := func(kib int64) float64 { return float64(kib) * 1024 / 1e3 }
	var idle, open, per [4]*float64
	for i := range r.rssIdle {
		idle[i], open[i] = f(kb(r.rssIdle[i])/1e3), f(kb(r.rssStreams[i])/1e3)
		per[i] = f(kb(r.rssStreams[i]-r.rssIdle[i]) / float64(o.Streams))
	}
	add("rss_idle", "RSS idle", "MB", idle, atMost(fmt.Sprintf("jan ≤ %d MB", targetIdleMB), *idle[2], targetIdleMB, "MB"))
	add("rss_streams", fmt.Sprintf("RSS with %d open streams", o.Streams), "MB", open)
	add("rss_per_stream", "  per open stream", "KB", per, atMost(fmt.Sprintf("jan ≤ %d KB", targetStreamKB), *per[2], targetStreamKB, "KB"))

	if r.store != nil {
		for _, s := range []struct {
			key, label string
			v          float64
		}{{"store_serial", "store: SQLite turns, 1 writer", r.store.Serial}, {"store_parallel", "store: SQLite turns, GOMAXPROCS writers", r.store.Parallel}} {
			c := Check{fmt.Sprintf("≥ %d/s", targetStoreTurnsS), s.v >= targetStoreTurnsS, fmt.Sprintf("×%.2f of the target", s.v/targetStoreTurnsS)}
			add(s.key, s.label, "turns/s", [4]*float64{nil, nil, f(s.v), nil}, c)
		}
	}
	rep.PostgresSkipped = r.pgSkipped
	if p := r.postgres; p != nil {
		sq := r.load[janFull]
		rep.Postgres = &pgReport{pgResult: *p,
			SQLiteRPS: sq.rps(), SQLiteCPU: float64(sq.cpuPerRequest()) / float64(time.Microsecond),
			RPS: p.Load.rps(), JanCPU: float64(p.Load.cpuPerRequest()) / float64(time.Microsecond),
			PGCPU: float64(p.PostgresCPU) / float64(time.Microsecond)}
		if p.Load.Errors > 0 {
			rep.Missed++ // errors under load are a failure wherever they happen
		}
	}
	for _, row := range rep.Rows {
		for _, c := range row.Checks {
			if c.Pass {
				rep.Met++
			} else {
				rep.Missed++
			}
		}
	}
	return rep
}

// num formats a value for its unit.
func num(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.3f", v)
	case "MB", "KB":
		return fmt.Sprintf("%.1f", v)
	case "µs":
		if v < 10 {
			return fmt.Sprintf("%.2f", v) // per token
		}
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func (rep *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeTable prints the machine, then one table: a row per figure, a column
// per way to the engine, and the targets with their outcome.
func (rep *Report) writeTable(w io.Writer) error {
	m, o := rep.Machine, rep.Options
	var b strings.Builder
	fmt.Fprintf(&b, "jan-bench  %s\n", m.Date)
	fmt.Fprintf(&b, "machine    %s, %d cores, %s, %s\n", m.CPU, m.Cores, m.Kernel, m.Go)
	if rep.Command != "" {
		fmt.Fprintf(&b, "command    %s\n", rep.Command)
	}
	fmt.Fprintf(&b, "sizes      latency: %d sequential requests per column; TTFT: %d streams of 16 tokens per column; memory: %d open streams\n",
		o.Seq, o.TTFTRequests, o.Streams)
	fmt.Fprintf(&b, "           throughput: %d clients for %s per column (direct, floor and jan in two halves, ordered d f j j f d;\n           jan full in turns of about a second with the floor, f J J f f J J f …, and compared with those)\n",
		o.Clients, o.Duration)
	fmt.Fprintf(&b, "columns    direct = the fake engine; floor = httputil.ReverseProxy in front of it; jan = jan serve (SQLite, embedded issuer);\n")
	fmt.Fprintf(&b, "           jan full = a guest per client, a unique Idempotency-Key and a stored conversation (%d per client, a new one every 20 requests)\n\n", o.ConvsPerUser)

	cells := [][]string{{"figure", "unit", "direct", "floor", "jan", "jan full", "target", "result"}}
	for _, r := range rep.Rows {
		label := r.Label
		if r.sub {
			label = "  " + label
		}
		row := []string{label, r.Unit}
		for _, v := range []*float64{r.Direct, r.Floor, r.Jan, r.JanFull} {
			if v == nil {
				row = append(row, "")
			} else {
				row = append(row, num(*v, r.Unit))
			}
		}
		var targets, results []string
		for _, c := range r.Checks {
			verdict := "MISS"
			if c.Pass {
				verdict = "pass"
			}
			targets = append(targets, c.Target)
			results = append(results, verdict+" "+c.Margin)
		}
		cells = append(cells, append(row, strings.Join(targets, "; "), strings.Join(results, "; ")))
	}
	writeCells(&b, cells, map[int]bool{2: true, 3: true, 4: true, 5: true})
	fmt.Fprintf(&b, "\n%d of %d targets met. CPU per request is the serving process's user+system time (the engine in the direct column);\n"+
		"machine CPU busy is all cores, all processes (100%% = CPU-bound).\n",
		rep.Met, rep.Met+rep.Missed)
	if rep.Store != nil {
		fmt.Fprintf(&b, "store figures: %s\n", rep.Store.Command)
	}
	rep.Postgres.write(&b)
	if rep.PostgresSkipped != "" {
		fmt.Fprintf(&b, "\nfull path on Postgres: skipped (%s)\n", rep.PostgresSkipped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCells pads a table into columns, right-aligning the numeric ones.
func writeCells(b *strings.Builder, cells [][]string, right map[int]bool) {
	width := map[int]int{}
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range cells {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
			line.WriteString("  ")
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// pgReport is the full path on Postgres with SQLite's from the same run.
type pgReport struct {
	pgResult
	RPS       float64 `json:"rps"`
	JanCPU    float64 `json:"jan_cpu_us"`      // per request
	PGCPU     float64 `json:"postgres_cpu_us"` // per request
	SQLiteRPS float64 `json:"sqlite_rps"`
	SQLiteCPU float64 `json:"sqlite_jan_cpu_us"`
}

func (p *pgReport) write(b *strings.Builder) {
	if p == nil {
		return
	}
	fmt.Fprintf(b, "\nfull path on Postgres %s (%s, local Unix socket), the same clients and duration as \"jan full\":\n\n", p.Version, p.Settings)
	na := "—"
	cells := [][]string{{"figure", "unit", "SQLite", "Postgres"},
		{"throughput", "req/s", num(p.SQLiteRPS, "req/s"), num(p.RPS, "req/s")},
		{"  errors", "count", "", fmt.Sprint(p.Load.Errors)},
		{"  jan CPU per request", "µs", num(p.SQLiteCPU, "µs"), num(p.JanCPU, "µs")},
		{"  Postgres CPU per request", "µs", na, num(p.PGCPU, "µs")},
		{"  machine CPU busy", "%", "", fmt.Sprintf("%.0f", 100*p.Load.Busy)},
		{"  statements per request (round trips)", "count", na, fmt.Sprintf("%.2f", p.Statements)},
		{"  commits per request", "count", na, fmt.Sprintf("%.2f", p.Commits)},
		{"  WAL per request", "bytes", na, fmt.Sprintf("%.0f", p.WALBytes)},
	}
	writeCells(b, cells, map[int]bool{2: true, 3: true})
	if p.Load.FirstError != "" {
		fmt.Fprintf(b, "first error: %.300s\n", p.Load.FirstError)
	}
	fmt.Fprintf(b, "\nstatements per request (pg_stat_statements), most frequent first:\n")
	for _, s := range p.Top {
		q := s.Query
		if utf8.RuneCountInString(q) > 110 {
			q = string([]rune(q)[:109]) + "…"
		}
		fmt.Fprintf(b, "  %5.2f  %6.3f ms  %s\n", s.PerRequest, s.MeanMS, q)
	}
}
