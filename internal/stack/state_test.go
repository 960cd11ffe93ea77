package stack

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := LoadState(dir); ok || err != nil {
		t.Fatalf("no state file: ok %v, %v", ok, err)
	}
	want := State{Profile: "cpu", Reason: "no GPU", ServerAddr: "127.0.0.1:8080", ServerPID: 42,
		StartedAt: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), URLs: [][2]string{{"API", "http://x"}}, ServerConfig: "abc"}
	if err := SaveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := LoadState(dir)
	if err != nil || !ok || got.ServerPID != 42 || got.Profile != "cpu" || len(got.URLs) != 1 || !got.StartedAt.Equal(want.StartedAt) {
		t.Fatalf("read back %+v, %v, %v", got, ok, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, StateFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %04o", fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o600)
	if _, _, err := LoadState(dir); err == nil {
		t.Error("a corrupt state file read without an error")
	}
	if err := RemoveState(dir); err != nil {
		t.Fatal(err)
	}
	if err := RemoveState(dir); err != nil {
		t.Errorf("removing a missing state file: %v", err)
	}
}

// The restart decision, without Docker: keep a server whose settings did
// not change, restart a background one whose did, leave one in a terminal
// to the user, start one when none runs.
func TestNextServer(t *testing.T) {
	env := map[string]string{"JAN_DB": "postgres://a", "BACKEND_CLIENT_SECRET": "s"}
	digest := SettingsDigest(env, nil)
	if SettingsDigest(map[string]string{"BACKEND_CLIENT_SECRET": "s", "JAN_DB": "postgres://a"}, nil) != digest {
		t.Error("the digest depends on map order")
	}
	other := SettingsDigest(env, []string{"172.17.0.1:8080"})
	if other == digest {
		t.Error("extra listen addresses do not change the digest")
	}
	for _, c := range []struct {
		prev  State
		alive bool
		want  ServerAction
	}{
		{State{ServerConfig: digest}, false, StartServer},
		{State{ServerConfig: digest}, true, KeepServer},
		{State{ServerConfig: other}, true, RestartServer},
		{State{ServerConfig: other, Foreground: true}, true, StaleServer},
		{State{ServerConfig: digest, Foreground: true}, true, KeepServer},
	} {
		if got := NextServer(c.prev, c.alive, digest); got != c.want {
			t.Errorf("NextServer(%+v, alive %v) = %v, want %v", c.prev, c.alive, got, c.want)
		}
	}
}
