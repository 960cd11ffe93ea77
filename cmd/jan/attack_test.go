package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store/pgtest"
)

// The attacks whose bound is the memory of the server process: jan serve
// runs as its own process, so its RSS is the server's alone. The rest of
// the attack suite is in internal/server/attack_test.go.

// rss returns the process's resident and peak resident memory in bytes.
func rss(t *testing.T, pid int) (now, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v (these tests need Linux /proc)", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return now, peak
}

// probeHealth asks /healthz every 50 ms until stop closes and returns the
// latencies (a failed probe counts as 10 s).
func probeHealth(base string, stop <-chan struct{}) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		var lat []time.Duration
		c := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-stop:
				out <- lat
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			res, err := c.Get(base + "/healthz")
			if err != nil {
				lat = append(lat, 10*time.Second)
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			lat = append(lat, time.Since(start))
		}
	}()
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func guestToken(t *testing.T, base string) string {
	t.Helper()
	_, b, err := post(base+"/auth/guest", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(b, &tok); tok.AccessToken == "" {
		t.Fatalf("guest: %s", b)
	}
	return tok.AccessToken
}

// 300 unauthenticated connections send 4 MiB − 1 byte bodies and stall: the
// server refuses each after its headers without reading the body, so its
// memory hardly moves, and /healthz keeps answering fast.
func TestAttackStalledUnauthenticatedBodies(t *testing.T) {
	addr := freeAddr(t)
	cmd := startServe(t, addr, t.TempDir())
	base := "http://" + addr
	guestToken(t, base) // warm up: the first request pays for lazy init
	before, _ := rss(t, cmd.Process.Pid)

	const conns = 300
	const size = 4<<20 - 1
	stop := make(chan struct{})
	lat := probeHealth(base, stop)
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	var refused atomic.Int32
	var wg sync.WaitGroup
	hold := make(chan struct{})
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			go func() { // the answer, read while the body is still being sent
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && res.StatusCode == http.StatusUnauthorized {
					refused.Add(1)
				}
			}()
			fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: jan\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size+1)
			_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			for sent := 0; sent < size; {
				n, err := c.Write(chunk[:min(len(chunk), size-sent)])
				sent += n
				if err != nil {
					break
				}
			}
			<-hold // stall, holding the connection
		}()
	}
	time.Sleep(4 * time.Second)
	now, peak := rss(t, cmd.Process.Pid)
	close(stop)
	probes := <-lat
	close(hold)
	wg.Wait()
	t.Logf("RSS %d MB before, %d MB during, peak %d MB; %d of %d refused with 401; /healthz p50 %s p90 %s max %s over %d probes",
		before>>20, now>>20, peak>>20, refused.Load(), conns, percentile(probes, .5), percentile(probes, .9), percentile(probes, 1), len(probes))
	if grew := peak - before; grew > 100<<20 {
		t.Errorf("RSS grew by %d MB under stalled unauthenticated bodies, want < 100 MB", grew>>20)
	}
	if p := percentile(probes, .9); len(probes) < 20 || p > 100*time.Millisecond {
		t.Errorf("/healthz p90 %s over %d probes during the attack, want < 100 ms", p, len(probes))
	}
	if refused.Load() < conns*9/10 {
		t.Errorf("only %d of %d connections got their 401", refused.Load(), conns)
	}
}

// 500 authenticated connections send their bodies at 10 bytes a second: all
// are cut (408) once they fall behind the minimum rate, with default
// settings within about the 5 s grace.
func TestAttackSlowBodies(t *testing.T) {
	addr := freeAddr(t)
	cmd := startServe(t, addr, t.TempDir())
	base := "http://" + addr
	tok := guestToken(t, base)
	before, _ := rss(t, cmd.Process.Pid)

	const conns = 500
	var cut, other atomic.Int32
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			start := time.Now()
			fmt.Fprintf(c, "POST /v1/conversations HTTP/1.1\r\nHost: jan\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", tok)
			done := make(chan struct{})
			go func() {
				for {
					select {
					case <-done:
						return
					case <-time.After(time.Second):
					}
					if _, err := c.Write([]byte("          ")); err != nil {
						return
					}
				}
			}()
			defer close(done)
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			took := time.Since(start)
			if d := int64(took); d > slowest.Load() {
				slowest.Store(d)
			}
			if err == nil && res.StatusCode == http.StatusRequestTimeout {
				cut.Add(1)
				return
			}
			other.Add(1)
		}()
	}
	wg.Wait()
	_, peak := rss(t, cmd.Process.Pid)
	t.Logf("%d of %d slow bodies cut with 408 (%d otherwise), the slowest after %s; RSS peak %d MB (was %d MB)",
		cut.Load(), conns, other.Load(), time.Duration(slowest.Load()), peak>>20, before>>20)
	if cut.Load() != conns {
		t.Errorf("%d of %d slow bodies were cut with 408", cut.Load(), conns)
	}
	if d := time.Duration(slowest.Load()); d > 12*time.Second {
		t.Errorf("the slowest body was cut after %s, want about the 5 s grace", d)
	}
}

// 100 concurrent password grants: argon2 (19 MiB each) runs one per CPU
// with as many waiting, the rest get 429 at once, so memory stays bounded.
// The per-address limit is off here so that the hash queue is the bound.
func TestAttackPasswordGrantFlood(t *testing.T) {
	addr := freeAddr(t)
	cmd := startServeEnv(t, addr, t.TempDir(), []string{"JAN_RATE_LIMIT_AUTH=off"})
	base := "http://" + addr
	tok := guestToken(t, base)
	status, b, err := post(base+"/auth/upgrade", tok, map[string]string{"username": "mallory", "email": "m@example.com", "password": "a long passphrase 1"})
	if err != nil || status != 200 {
		t.Fatalf("upgrade: %d %s %v", status, b, err)
	}
	before, _ := rss(t, cmd.Process.Pid)

	const grants = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	for i := range grants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			form := url.Values{"grant_type": {"password"}, "username": {"mallory"}, "password": {fmt.Sprintf("guess %d", i)}}
			res, err := http.PostForm(base+"/auth/token", form)
			code := 0
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				code = res.StatusCode
			}
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	_, peak := rss(t, cmd.Process.Pid)
	t.Logf("statuses %v; RSS %d MB before, peak %d MB", statuses, before>>20, peak>>20)
	if grew := peak - before; grew > 150<<20 {
		t.Errorf("RSS grew by %d MB under 100 password grants, want < 150 MB", grew>>20)
	}
	if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusBadRequest] == 0 || statuses[http.StatusBadRequest]+statuses[http.StatusTooManyRequests] != grants {
		t.Errorf("statuses %v: want wrong-password 400s and some 429s, nothing else", statuses)
	}
}

// kill -9 during 20 streaming runs and 5 background responses, then start
// again: every run and response ends incomplete, keeping the answer
// checkpointed while it streamed, and a response's stream read again ends
// with response.incomplete. On SQLite and on Postgres.
func TestAttackKillDuringRuns(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var args []string
			if db == "postgres" {
				args = []string{"--db", pgtest.URL(t)}
			}
			killDuringRuns(t, args)
		})
	}
}

func killDuringRuns(t *testing.T, dbArgs []string) {
	engine := httptest.NewServer(fakeengine.New(fakeengine.Options{Tokens: 2000, TokenDelay: 5 * time.Millisecond}))
	defer engine.Close()
	addr, dir := freeAddr(t), t.TempDir()
	serveArgs := append([]string{"--engine", engine.URL}, dbArgs...)
	cmd := startServe(t, addr, dir, serveArgs...)
	base := "http://" + addr
	tok := guestToken(t, base)

	const runs = 20
	convs := make([]string, runs)
	for i := range convs {
		_, b, _ := post(base+"/v1/conversations", tok, map[string]any{"items": []map[string]string{{"role": "user", "content": "tell me a long story"}}})
		var c struct{ ID string }
		if json.Unmarshal(b, &c); c.ID == "" {
			t.Fatalf("conversation: %s", b)
		}
		convs[i] = c.ID
	}
	runIDs := make([]string, runs)
	var started sync.WaitGroup
	for i, conv := range convs {
		started.Add(1)
		go func() {
			body, _ := json.Marshal(map[string]any{"stream": true})
			req, _ := http.NewRequest("POST", base+"/v1/conversations/"+conv+"/runs", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				started.Done()
				return
			}
			defer res.Body.Close()
			runIDs[i] = res.Header.Get("X-Run-Id")
			sc := bufio.NewScanner(res.Body)
			for n := 0; n < 5 && sc.Scan(); n++ { // the run has begun answering
			}
			started.Done()
			for sc.Scan() { // keep reading until the server dies
			}
		}()
	}
	started.Wait()
	var respIDs []string
	for range 5 {
		status, b, err := post(base+"/v1/responses", tok, map[string]any{"model": "fake-model", "input": "tell me a long story", "background": true})
		var r struct{ ID string }
		if json.Unmarshal(b, &r); err != nil || status != 200 || r.ID == "" {
			t.Fatalf("background response: %d %s %v", status, b, err)
		}
		respIDs = append(respIDs, r.ID)
	}
	time.Sleep(2500 * time.Millisecond) // past the 1 s checkpoints
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	startServe(t, addr, dir, serveArgs...)
	for i, id := range runIDs {
		if id == "" {
			t.Fatalf("run %d has no id", i)
		}
		req, _ := http.NewRequest("GET", base+"/v1/conversations/"+convs[i]+"/runs/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var run struct {
			Status  string `json:"status"`
			Message *struct {
				Content string `json:"content"`
				Status  string `json:"status"`
			} `json:"message"`
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		json.Unmarshal(b, &run)
		if run.Status != "incomplete" || run.Message == nil || run.Message.Content == "" || run.Message.Status != "incomplete" {
			t.Errorf("run %d after kill -9 and restart: %s", i, b)
		}
	}
	for _, id := range respIDs {
		b := getBody(t, base+"/v1/responses/"+id, tok)
		var resp struct {
			Status            string `json:"status"`
			IncompleteDetails *struct {
				Reason string `json:"reason"`
			} `json:"incomplete_details"`
			Output []struct {
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"output"`
		}
		json.Unmarshal(b, &resp)
		if resp.Status != "incomplete" || resp.IncompleteDetails == nil || resp.IncompleteDetails.Reason != "interrupted" ||
			len(resp.Output) != 1 || len(resp.Output[0].Content) != 1 || resp.Output[0].Content[0].Text == "" {
			t.Errorf("response %s after kill -9 and restart: %.300s", id, b)
		}
		events := string(getBody(t, base+"/v1/responses/"+id+"?stream=true", tok))
		if !strings.HasPrefix(events, "event: response.created") || !strings.HasSuffix(strings.TrimSpace(events), "}") ||
			strings.Count(events, "event: response.incomplete") != 1 {
			t.Errorf("response %s's stream read again after the restart: %.200s … %.300s", id, events, events[max(0, len(events)-300):])
		}
	}
}

// getBody is the body of a GET with token; a status other than 200 fails t.
func getBody(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return b
}

// Slowloris: 200 connections that send their headers a byte at a time are
// closed at the header timeout (JAN_HEADER_TIMEOUT, 2 s here; 10 s by
// default).
func TestAttackSlowlorisHeaders(t *testing.T) {
	addr := freeAddr(t)
	startServeEnv(t, addr, t.TempDir(), []string{"JAN_HEADER_TIMEOUT=2s"})
	const conns = 200
	var closed atomic.Int32
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			start := time.Now()
			go func() {
				for _, b := range []byte("GET /v1/models HTTP/1.1\r\nHost: jan\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, c) // ends when the server closes
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return
			}
			closed.Add(1)
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of %d slow header senders closed, the last after %s", closed.Load(), conns, time.Duration(slowest.Load()))
	if closed.Load() != conns || time.Duration(slowest.Load()) > 5*time.Second {
		t.Errorf("%d of %d slow header senders closed, the last after %s; want all at about 2 s", closed.Load(), conns, time.Duration(slowest.Load()))
	}
}

// 300 streams (50 tokens a second each) whose clients stop reading, with a
// 4 KiB receive buffer: what the server writes waits in the kernel, then
// its writes block; its memory stays bounded and it keeps answering.
func TestAttackSlowStreamReaders(t *testing.T) {
	engine := httptest.NewServer(fakeengine.New(fakeengine.Options{Tokens: 20000, TokenDelay: 20 * time.Millisecond}))
	defer engine.Close()
	addr := freeAddr(t)
	cmd := startServe(t, addr, t.TempDir(), "--engine", engine.URL)
	base := "http://" + addr
	tok := guestToken(t, base)
	before, _ := rss(t, cmd.Process.Pid)
	models, err := http.NewRequest("GET", base+"/v1/models", nil)
	if err != nil {
		t.Fatal(err)
	}
	models.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(models)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ ID string } }
	json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Data) == 0 {
		t.Fatal("the engine's models are not served")
	}
	body, _ := json.Marshal(map[string]any{"model": list.Data[0].ID, "stream": true, "messages": []map[string]string{{"role": "user", "content": "go on"}}})

	const streams = 300
	var opened atomic.Int32
	var wg sync.WaitGroup
	hold := make(chan struct{})
	small := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := small.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: jan\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tok, len(body), body)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if line, err := bufio.NewReader(c).ReadString('\n'); err == nil && strings.Contains(line, "200") {
				opened.Add(1)
			}
			<-hold // and read no more
		}()
	}
	time.Sleep(4 * time.Second)
	stop := make(chan struct{})
	lat := probeHealth(base, stop)
	time.Sleep(2 * time.Second)
	_, peak := rss(t, cmd.Process.Pid)
	close(stop)
	probes := <-lat
	close(hold)
	wg.Wait()
	t.Logf("%d of %d streams open; RSS %d MB before, peak %d MB; /healthz p50 %s p90 %s", opened.Load(), streams,
		before>>20, peak>>20, percentile(probes, .5), percentile(probes, .9))
	if opened.Load() != streams {
		t.Errorf("%d of %d streams opened", opened.Load(), streams)
	}
	if grew := peak - before; grew > 150<<20 {
		t.Errorf("RSS grew by %d MB with 300 stalled stream readers, want < 150 MB", grew>>20)
	}
	if p := percentile(probes, .9); p > 100*time.Millisecond {
		t.Errorf("/healthz p90 %s with 300 stalled stream readers, want < 100 ms", p)
	}
}

// The data dir is the server's alone: an existing one open to others is
// made 0700 and the database 0600. And the banner says when the server
// listens on every interface.
func TestAttackDataDirIsPrivate(t *testing.T) {
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1")
	cmd := exec.Command(bin, "serve", "--addr", port, "--data-dir", dir, "--no-detect")
	cmd.Env = append(os.Environ(), "LOG_LEVEL=warn")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "Try it") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "every network interface") {
		t.Errorf("--addr %s: the banner does not say it listens on every interface:\n%s", port, out.String())
	}
	// The signing key lives in the database (0600), not in a file beside it.
	if _, err := os.Stat(filepath.Join(dir, "signing-key.pem")); err == nil {
		t.Errorf("a new data dir got a signing-key.pem; the key belongs in the database")
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "jan.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
}
