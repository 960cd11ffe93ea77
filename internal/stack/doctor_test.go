package stack

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The checks without an engine: the data dir passes, a bad --publish is a
// failed settings check, and an engine that does not answer is a failed
// Docker check with its fix — and nothing is checked past it.
func TestDoctorWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	t.Setenv("DOCKER_CONTEXT", "")
	dir := t.TempDir()
	checks := Doctor(context.Background(), DoctorInput{DataDir: dir, Env: map[string]string{}, GPU: GPUNone, ServerAddr: "127.0.0.1:8080"})
	if len(checks) != 2 || checks[0].Name != "data dir" || checks[0].Status != CheckOK ||
		checks[1].Name != "Docker engine" || checks[1].Status != CheckFail || !strings.Contains(checks[1].Fix, "--embedded") {
		t.Fatalf("checks without an engine: %+v", checks)
	}
	checks = Doctor(context.Background(), DoctorInput{DataDir: dir, Env: map[string]string{}, Publish: []string{"gateway=0"}, GPU: GPUNone})
	if last := checks[len(checks)-1]; last.Name != "settings" || last.Status != CheckFail || !strings.Contains(last.Detail, "--publish") {
		t.Fatalf("a bad --publish: %+v", checks)
	}
	checks = Doctor(context.Background(), DoctorInput{DataDir: "/proc/no/such/dir", Env: map[string]string{}, GPU: GPUNone})
	if checks[0].Status != CheckFail || !strings.Contains(checks[0].Fix, "--data-dir") {
		t.Fatalf("an unwritable data dir: %+v", checks[0])
	}
}
