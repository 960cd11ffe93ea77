package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartAliveStop(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	spec := Spec{Path: "/bin/sh", Args: []string{"-c", "echo starting; sleep 0.2; touch " + ready + "; exec sleep 30"},
		Log: filepath.Join(dir, "out.log"), Timeout: 5 * time.Second,
		Ready: func() bool { _, err := os.Stat(ready); return err == nil }}
	pid, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(pid) {
		t.Fatalf("pid %d is not alive after Start", pid)
	}
	if err := Stop(pid, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for Alive(pid) && time.Now().Before(deadline) { // reaped by init, or by us below
		time.Sleep(10 * time.Millisecond)
	}
	if err := Stop(pid, time.Second); err != nil {
		t.Errorf("stopping a process that is gone: %v", err)
	}
	if fi, err := os.Stat(spec.Log); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log: %v, %v", fi, err)
	}
	if !strings.Contains(Tail(spec.Log, 5), "starting") {
		t.Errorf("log tail = %q", Tail(spec.Log, 5))
	}
}

// A program that dies, or never becomes ready, is an error that quotes its log.
func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	never := func() bool { return false }
	_, err := Start(context.Background(), Spec{Path: "/bin/sh", Args: []string{"-c", "echo cannot bind; exit 3"},
		Log: filepath.Join(dir, "a.log"), Ready: never, Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot bind") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("a program that exits: %v", err)
	}
	start := time.Now()
	_, err = Start(context.Background(), Spec{Path: "/bin/sh", Args: []string{"-c", "echo waiting; exec sleep 30"},
		Log: filepath.Join(dir, "b.log"), Ready: never, Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not become ready") || !strings.Contains(err.Error(), "waiting") || time.Since(start) > 3*time.Second {
		t.Errorf("a program that is never ready: %v after %s", err, time.Since(start))
	}
	if Alive(-1) || Alive(0) {
		t.Error("pids ≤ 0 are alive")
	}
}
