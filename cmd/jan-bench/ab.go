package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A/B runs of the full path: jan-bench -ab OLD,NEW.
//
// The main run's full-path ratio moves by ±0.05 between runs of one binary
// on a noisy machine (the floor measured around it moved by a third between
// runs minutes apart), more than most single changes. -ab compares two jan
// binaries on the full path instead: one fake engine, a `jan serve` of each
// with the settings of the main run, and the full path against each in turn
// in rounds of a second, A B B A …, so that a machine that speeds up or slows
// down favours neither. Two copies of one binary agreed within 1.5–2 % in
// 10 s runs here; a difference under ~4 % wants a second run.

// abRound is the length of one binary's turn.
const abRound = time.Second

// abResult is one binary's share of an A/B run.
type abResult struct {
	bin  string
	load loadResult
}

// runAB runs the full path through each binary in bins, alternately, for
// o.Duration each in rounds of abRound, and prints the figures to out.
func runAB(ctx context.Context, o Options, bins []string, out, logw io.Writer) error {
	o.defaults()
	dir, err := os.MkdirTemp("", "jan-bench-ab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addrs, err := freeAddrs(1 + len(bins))
	if err != nil {
		return err
	}
	engineURL := "http://" + addrs[0]
	engine, err := startProc("fake engine", bins[0], []string{"dev", "fake-engine", "--addr", addrs[0], "--model", benchModel}, nil)
	if err != nil {
		return err
	}
	defer engine.stop()
	if err := engine.waitHTTP(ctx, engineURL+"/v1/models", 20*time.Second); err != nil {
		return err
	}
	hc := newClient(max(64, 2*o.Clients))
	defer hc.CloseIdleConnections()
	rounds := max(int(o.Duration/abRound), 1)
	// Enough conversations for a new one every 20 requests at 5,000 req/s.
	convs := min(max(rounds*5000/o.Clients/20, 2), 400)
	procs := make([]*proc, len(bins))
	paths := make([]*fullPath, len(bins))
	for i, bin := range bins {
		url := "http://" + addrs[1+i]
		fmt.Fprintf(logw, "ab: starting %s on %s, %d guests × %d conversations…\n", bin, url, o.Clients, convs)
		procs[i], err = startProc(fmt.Sprintf("jan %d", i), bin, []string{"serve", "--addr", addrs[1+i],
			"--data-dir", filepath.Join(dir, fmt.Sprint(i)), "--no-detect", "--engine", engineURL}, janEnv)
		if err != nil {
			return err
		}
		defer procs[i].stop()
		if err := procs[i].waitHTTP(ctx, url+"/healthz", 30*time.Second); err != nil {
			return err
		}
		if paths[i], err = newFullPath(ctx, hc, url, o.Clients, convs); err != nil {
			return err
		}
	}
	results := make([]abResult, len(bins))
	fmt.Fprintf(logw, "ab: the full path, %d clients, %d rounds of %s per binary…\n", o.Clients, rounds, abRound)
	for r := range rounds {
		for k := range bins {
			i := k
			if r%2 == 1 {
				i = len(bins) - 1 - k // A B, then B A
			}
			half, err := measureLoad(ctx, hc, o.Clients, abRound, procs[i], paths[i].next)
			if err != nil {
				return err
			}
			results[i].bin, results[i].load = bins[i], results[i].load.add(half)
		}
	}
	for i := range bins {
		if err := paths[i].checkStored(ctx, hc); err != nil {
			return fmt.Errorf("%s: %w", bins[i], err)
		}
	}
	return writeAB(out, results)
}

// writeAB prints one line per binary, with its ratios to the first.
func writeAB(out io.Writer, results []abResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %10s %14s %8s %10s %10s\n", "binary", "req/s", "CPU/request", "errors", "req/s ÷A", "CPU ÷A")
	a := results[0].load
	for _, r := range results {
		l := r.load
		fmt.Fprintf(&b, "%-40s %10.0f %11.0f µs %8d %10s %10s\n", r.bin, l.rps(), float64(l.cpuPerRequest())/1e3, l.Errors,
			fmt.Sprintf("×%.3f", l.rps()/a.rps()), fmt.Sprintf("×%.3f", float64(l.cpuPerRequest())/float64(a.cpuPerRequest())))
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// abBinaries splits -ab's value: two or more binaries, comma-separated.
func abBinaries(v string) ([]string, error) {
	bins := strings.Split(v, ",")
	if len(bins) < 2 {
		return nil, errors.New("-ab wants two or more jan binaries, comma-separated (OLD,NEW)")
	}
	for _, b := range bins {
		if fi, err := os.Stat(b); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("-ab: %q is not a jan binary", b)
		}
	}
	return bins, nil
}
