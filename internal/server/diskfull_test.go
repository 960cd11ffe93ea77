package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes for the test: a disk that can
// fill up. Mounting needs root; without it the test skips, unless CI=true
// or JAN_TEST_REQUIRE names "mount", where it fails.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
		if os.Getenv("CI") == "true" || strings.Contains(os.Getenv("JAN_TEST_REQUIRE"), "mount") {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set JAN_TEST_REQUIRE=mount to fail instead)")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes to dir until the disk is full; freeing it gives the space back.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{1}, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	return func() { os.Remove(path) }
}

// A full disk: writes are 503 database_unavailable, /readyz is 503 while
// the database cannot write, and no guest is left half made (a user
// without its refresh token). When space comes back, so does everything.
func TestAttackDiskFull(t *testing.T) {
	dir := smallDisk(t, 4<<20)
	e := newEnv(t, envOptions{dsn: "sqlite:" + filepath.Join(dir, "jan.db")})
	tok := e.guest()
	conv := e.newConversation(tok, "hello")
	free := fill(t, dir)

	big := strings.Repeat("x", 256<<10)
	var last response
	for i := 0; i < 20; i++ {
		if last = e.do("POST", "/v1/conversations/"+conv+"/messages", tok, map[string]any{"role": "user", "content": big}, nil); last.status != 201 {
			break
		}
	}
	if last.status != 503 || last.errorCode(t) != "database_unavailable" || last.header.Get("Retry-After") == "" {
		t.Fatalf("a write on a full disk: %d %s", last.status, last.body)
	}
	users := func() int {
		list, _, err := e.store.ListUsers(t.Context(), 100, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	before := users()
	made := 0
	for i := 0; i < 5; i++ {
		switch r := e.do("POST", "/auth/guest", "", nil, nil); r.status {
		case 201:
			made++
		case 503:
		default:
			t.Fatalf("a guest on a full disk: %d %s", r.status, r.body)
		}
	}
	if r := e.do("GET", "/readyz", "", nil, nil); r.status != 503 || !strings.Contains(string(r.body), `"database"`) {
		t.Fatalf("readyz on a full disk: %d %s", r.status, r.body)
	}

	free()
	time.Sleep(dbCheckEvery)
	if r := e.do("GET", "/readyz", "", nil, nil); r.status != 200 {
		t.Fatalf("readyz with space again: %d %s", r.status, r.body)
	}
	if got := users(); got != before+made {
		t.Fatalf("%d users after %d guests were made on a full disk, want %d: a guest was left half made", got, made, before+made)
	}
	if r := e.do("POST", "/v1/conversations/"+conv+"/messages", tok, map[string]any{"role": "user", "content": "back"}, nil); r.status != 201 {
		t.Fatalf("a write with space again: %d %s", r.status, r.body)
	}
}
