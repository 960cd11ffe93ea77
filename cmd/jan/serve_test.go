package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store"
)

// janBinary builds the jan binary once per test run.
var janBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "jan-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "jan")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `jan serve` and waits until /healthz answers.
func startServe(t *testing.T, addr, dataDir string, extra ...string) *exec.Cmd {
	t.Helper()
	return startServeEnv(t, addr, dataDir, nil, extra...)
}

// startServeEnv is startServe with more environment variables.
func startServeEnv(t *testing.T, addr, dataDir string, env []string, extra ...string) *exec.Cmd {
	t.Helper()
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--no-detect"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "LOG_LEVEL=warn", "JAN_RATE_LIMIT_GUEST=off"), env...)
	startHealthy(t, cmd, addr)
	return cmd
}

// startHealthy starts cmd (a jan serve) and waits until addr answers
// /healthz; it returns the process's output so far and later.
func startHealthy(t *testing.T, cmd *exec.Cmd, addr string) *bytes.Buffer {
	t.Helper()
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("jan serve did not start:\n%s", out.String())
	return nil
}

// guestOf makes a guest on the server at base.
func guestOf(t *testing.T, base string) (tok struct {
	AccessToken string `json:"access_token"`
}) {
	t.Helper()
	status, b, err := post(base+"/auth/guest", "", nil)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("guest: %d %s %v", status, b, err)
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func post(url, token string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	return res.StatusCode, rb, err
}

// kill -9 under write load, then restart: every message whose create
// returned 2xx is there.
func TestKillDashNineKeepsAcknowledgedWrites(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	cmd := startServe(t, addr, dir)
	base := "http://" + addr
	tok := guestOf(t, base)
	_, b, _ := post(base+"/v1/conversations", tok.AccessToken, map[string]any{})
	var conv struct{ ID string }
	json.Unmarshal(b, &conv)
	if conv.ID == "" {
		t.Fatalf("create conversation: %s", b)
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				status, b, err := post(base+"/v1/conversations/"+conv.ID+"/messages", tok.AccessToken,
					map[string]any{"role": "user", "content": fmt.Sprintf("message %d", i)})
				if err != nil {
					return // the server is gone
				}
				if status == http.StatusCreated {
					var m struct{ ID string }
					json.Unmarshal(b, &m)
					mu.Lock()
					acked[m.ID] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()
	stop()
	if len(acked) < 50 {
		t.Fatalf("only %d writes acknowledged before the kill; the load did not run", len(acked))
	}

	startServe(t, addr, dir)
	stored := map[string]bool{}
	after := ""
	for {
		url := base + "/v1/conversations/" + conv.ID + "/messages?limit=100"
		if after != "" {
			url += "&after=" + after
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken) // the signing key survived too
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			HasMore   bool    `json:"has_more"`
			NextAfter *string `json:"next_after"`
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("list after restart: %d %s", res.StatusCode, body)
		}
		json.Unmarshal(body, &page)
		for _, m := range page.Data {
			stored[m.ID] = true
		}
		if !page.HasMore {
			break
		}
		after = *page.NextAfter
	}
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged messages are missing after kill -9", missing, len(acked))
	}
	t.Logf("%d acknowledged writes, all present after kill -9 and restart", len(acked))
}

func TestServeStartupErrors(t *testing.T) {
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	badProviders := filepath.Join(t.TempDir(), "providers.yaml")
	os.WriteFile(badProviders, []byte("providers:\n  - name: x\n    kind: openai\n"), 0o644)

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"port in use", []string{"--addr", taken.Addr().String()}, []string{"already in use", "--addr"}},
		{"bad providers.yaml", []string{"--addr", freeAddr(t), "--providers", badProviders}, []string{"providers.yaml", "base_url"}},
		{"bad addr", []string{"--addr", "nonsense"}, []string{"--addr", "host:port"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--no-detect", "--data-dir", t.TempDir()}, tc.args...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err == nil {
				t.Fatalf("jan serve succeeded; output:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// SIGTERM drains: /readyz turns 503 at once, a stream in flight finishes,
// a request that arrives meanwhile is still served, then jan exits 0.
func TestSIGTERMDrains(t *testing.T) {
	engine := httptest.NewServer(fakeengine.New(fakeengine.Options{Models: []string{"slow"}, TokenDelay: 100 * time.Millisecond, Tokens: 15}))
	defer engine.Close()
	addr, dir := freeAddr(t), t.TempDir()
	cmd := startServeEnv(t, addr, dir, []string{"JAN_SHUTDOWN_GRACE=20s"}, "--engine", engine.URL)
	base := "http://" + addr
	tok := guestOf(t, base)

	// A stream of ~1.5 s.
	streamDone := make(chan string, 1)
	go func() {
		_, b, err := post(base+"/v1/chat/completions", tok.AccessToken, map[string]any{"model": "slow", "stream": true,
			"messages": []map[string]string{{"role": "user", "content": "hi"}}})
		if err != nil {
			streamDone <- "error: " + err.Error()
			return
		}
		streamDone <- string(b)
	}()
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// "At once" is checked by what it means to a balancer, not by a wall
	// clock a loaded CI machine stretches: /readyz says 503 while the stream
	// in flight (about 1.2 s left) is still going, long before the drain ends.
	sent := time.Now()
	var drainedAfter time.Duration
	for drainedAfter == 0 && time.Since(sent) < 2*time.Second {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable {
				drainedAfter = time.Since(sent)
			}
		}
		if len(streamDone) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if drainedAfter == 0 || len(streamDone) > 0 {
		t.Errorf("/readyz turned 503 after %v (0: not within 2s), the stream in flight finished first: %v", drainedAfter, len(streamDone) > 0)
	}
	t.Logf("/readyz turned 503 %v after SIGTERM", drainedAfter)
	// A new request while draining is still served.
	if res, err := http.Get(base + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Errorf("a request while draining: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	select {
	case body := <-streamDone:
		if !strings.Contains(body, "[DONE]") || strings.Contains(body, `"error"`) {
			t.Errorf("the stream in flight did not finish whole:\n%s", body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stream did not finish")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("jan serve exited with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("jan serve did not exit after draining")
	}
}

// A background run still going when the grace ends is stopped and stored
// incomplete, with its answer so far, before jan exits: none is left
// in progress for a later recovery.
func TestShutdownEndsBackgroundRuns(t *testing.T) {
	engine := httptest.NewServer(fakeengine.New(fakeengine.Options{Models: []string{"slow"}, TokenDelay: 50 * time.Millisecond, Tokens: 200}))
	defer engine.Close()
	addr, dir := freeAddr(t), t.TempDir()
	cmd := startServeEnv(t, addr, dir, []string{"JAN_SHUTDOWN_GRACE=500ms"}, "--engine", engine.URL)
	base := "http://" + addr
	tok := guestOf(t, base)
	_, b, _ := post(base+"/v1/conversations", tok.AccessToken, map[string]any{"items": []map[string]any{{"type": "message", "role": "user", "content": "a long story"}}})
	var conv struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
	}
	_ = json.Unmarshal(b, &conv)
	status, b, err := post(base+"/v1/conversations/"+conv.ID+"/runs", tok.AccessToken, map[string]any{"model": "slow", "background": true})
	var run struct{ ID, Status string }
	_ = json.Unmarshal(b, &run)
	if err != nil || status != 200 || run.Status != "in_progress" {
		t.Fatalf("background run: %d %s %v", status, b, err)
	}
	time.Sleep(1500 * time.Millisecond) // a checkpoint (at most once a second) is stored
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("jan serve exited with %v", err)
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "jan.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.GetRun(context.Background(), conv.UserID, conv.ID, run.ID)
	if err != nil || got.Status != store.StatusIncomplete || got.MessageID == "" {
		t.Fatalf("after the shutdown the run is %+v (%v), want incomplete with its message", got, err)
	}
	msg, err := st.GetMessage(context.Background(), conv.UserID, conv.ID, got.MessageID)
	if err != nil || msg.Content == "" || msg.Status != store.StatusIncomplete {
		t.Fatalf("its message: %+v %v", msg, err)
	}
}

// jan serve as an unprivileged user on a data dir it cannot chmod (a
// volume's root, as Kubernetes mounts one) starts, warns, and keeps its
// files private.
func TestServeOnAVolumeItDoesNotOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test needs root to run jan as another user")
		}
		t.Skip("needs root to run jan as another user")
	}
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} { // traversable by the other user
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	volume := filepath.Join(root, "volume")
	if err := os.Mkdir(volume, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(volume, 0o777) // root-owned, open: an emptyDir
	// The binary must be reachable by the other user.
	exe := filepath.Join(root, "jan")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(exe, "serve", "--addr", addr, "--data-dir", volume, "--no-detect")
	cmd.Env = []string{"HOME=" + volume, "LOG_LEVEL=warn", "LOG_FORMAT=text"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	out := startHealthy(t, cmd, addr) // fails the test when it does not start
	if !strings.Contains(out.String(), "data dir is open to other users and owned by another") {
		t.Errorf("no warning about the open data dir:\n%s", out.String())
	}
	if fi, err := os.Stat(filepath.Join(volume, "jan.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("jan.db: %v %v", fi, err)
	}
}
