package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/proc"
	"github.com/janhq/jan/internal/stack"
)

// TestStackPerformance measures issue 4's budgets with the stand-in images
// (make bench; opt in with JAN_PERF=1), each next to a baseline from the
// same run:
//
//   - warm jan up -d (images present, containers stopped) to ready: jan's
//     own time, i.e. all of it not spent waiting on a healthcheck (jan up
//     prints both), against the engine starting the same stopped
//     containers by itself;
//   - jan status and jan --help, median of 10, against jan version (the
//     process-start floor).
func TestStackPerformance(t *testing.T) {
	if os.Getenv("JAN_PERF") != "1" {
		t.Skip("set JAN_PERF=1 to measure")
	}
	r := newStackRun(t)
	r.mustJan("up", "-d")
	stop := func() {
		state, _, _ := stack.LoadState(r.dataDir)
		_ = proc.Stop(state.ServerPID, 15*time.Second)
		f := client.Filters{}.Add("label", stack.LabelProject+"="+r.project)
		cs, err := r.cli.ContainerList(context.Background(), client.ContainerListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs.Items {
			if _, err := r.cli.ContainerStop(context.Background(), c.ID, client.ContainerStopOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Baseline: the engine starting the stopped containers, nothing else.
	var engine []time.Duration
	for range 5 {
		stop()
		f := client.Filters{}.Add("label", stack.LabelProject+"="+r.project)
		cs, _ := r.cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
		began := time.Now()
		for _, c := range cs.Items {
			if _, err := r.cli.ContainerStart(context.Background(), c.ID, client.ContainerStartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		engine = append(engine, time.Since(began))
	}
	re := regexp.MustCompile(`Up in ([0-9.]+m?s) \(([0-9.]+m?s) of it waiting on healthchecks\)`)
	var own, total []time.Duration
	for range 5 {
		stop()
		out := r.mustJan("up", "-d")
		m := re.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "6 started") {
			t.Fatalf("jan up -d did not report a warm start:\n%s", out)
		}
		all, _ := time.ParseDuration(m[1])
		wait, _ := time.ParseDuration(m[2])
		own, total = append(own, all-wait), append(total, all)
	}
	status := timeRuns(t, r, "status")
	help := timeRuns(t, r, "--help")
	floor := timeRuns(t, r, "version")
	t.Logf("warm jan up -d, jan's own time: median %s (target ≤ 1s; whole up %s) — baseline: the engine starting the 6 stopped containers itself %s",
		median(own), median(total), median(engine))
	t.Logf("jan status: median %s (target ≤ 150ms) — baseline jan version %s", median(status), median(floor))
	t.Logf("jan --help: median %s (target ≤ 30ms) — baseline jan version %s", median(help), median(floor))
}

func timeRuns(t *testing.T, r *stackRun, args ...string) []time.Duration {
	t.Helper()
	var ds []time.Duration
	for range 10 {
		cmd := exec.Command(r.bin, args...)
		cmd.Env, cmd.Dir = r.env, r.dataDir
		began := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("jan %v: %v\n%s", args, err, out)
		}
		ds = append(ds, time.Since(began))
	}
	return ds
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(100 * time.Microsecond)
}
