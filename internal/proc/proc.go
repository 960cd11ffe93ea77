// Package proc controls background processes, as jan up -d runs the llm-api
// server: start a program detached from the terminal with its output
// appended to a log file and wait until it says it is ready, tell whether a
// pid lives, and stop one gracefully. It knows nothing of jan: callers give
// the program, its arguments and environment, and the readiness check.
package proc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Spec is a program to run in the background.
type Spec struct {
	Path    string
	Args    []string
	Env     []string      // the whole environment of the program
	Log     string        // its stdout and stderr are appended here (created 0600)
	Ready   func() bool   // polled every 50 ms until it reports true
	Timeout time.Duration // how long it may take to become ready
}

// Start runs spec in a session of its own and waits until it is ready. It
// returns the program's pid; when the program exits first, does not become
// ready in time, or ctx ends, the program is stopped and the error quotes
// the end of its log.
func Start(ctx context.Context, spec Spec) (int, error) {
	logFile, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	detach(cmd) // off the terminal: Ctrl+C there does not reach it
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(spec.Timeout)
	for {
		select {
		case err := <-exited:
			return 0, fmt.Errorf("it exited (%v); its log %s ends:\n%s", err, spec.Log, Tail(spec.Log, 15))
		case <-ctx.Done():
			_ = terminate(cmd.Process.Pid)
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if spec.Ready() {
			pid := cmd.Process.Pid
			_ = cmd.Process.Release()
			return pid, nil
		}
		if time.Now().After(deadline) {
			_ = terminate(cmd.Process.Pid)
			return 0, fmt.Errorf("it did not become ready within %s; its log %s ends:\n%s", spec.Timeout, spec.Log, Tail(spec.Log, 15))
		}
	}
}

// errGone: the process is not there (any more).
var errGone = errors.New("no such process")

// HTTPReady is a readiness check: url answers 200, each try within a second.
func HTTPReady(url string) func() bool {
	c := &http.Client{Timeout: time.Second}
	return func() bool {
		r, err := c.Get(url)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}
}

// Alive reports whether pid runs.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return alive(pid)
}

// Stop sends pid SIGTERM, waits up to grace for it to exit, then kills it.
// A process that is already gone is not an error; one this user may not
// signal is.
func Stop(pid int, grace time.Duration) error {
	if err := terminate(pid); err != nil {
		if errors.Is(err, errGone) {
			return nil
		}
		return fmt.Errorf("stop process %d: %w", pid, err)
	}
	deadline := time.Now().Add(grace)
	for Alive(pid) {
		if time.Now().After(deadline) {
			if err := kill(pid); err != nil && !errors.Is(err, errGone) {
				return fmt.Errorf("kill process %d: %w", pid, err)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Tail returns the last n lines of a file, indented, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
