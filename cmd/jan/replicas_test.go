package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
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

// replica is one `jan serve` process of a replica set.
type replica struct {
	addr, dir string
	cmd       *exec.Cmd
	out       *bytes.Buffer
	ready     atomic.Bool // as the balancer last saw /readyz
}

// replicaSet is N `jan serve` processes on one Postgres, each with its own
// data dir, behind a round-robin balancer that, like a Kubernetes Service,
// sends only to replicas whose /readyz answers 200 (probed every 20 ms).
// The balancer's address is every replica's public URL.
type replicaSet struct {
	t        *testing.T
	replicas []*replica
	lb       *httptest.Server
	env      []string
	args     []string
	next     atomic.Uint32
}

func startReplicaSet(t *testing.T, n int, engineURL, dsn string, env ...string) *replicaSet {
	rs := &replicaSet{t: t, args: []string{"--engine", engineURL, "--db", dsn}}
	proxies := map[*replica]*httputil.ReverseProxy{}
	rs.lb = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range len(rs.replicas) {
			rep := rs.replicas[int(rs.next.Add(1))%len(rs.replicas)]
			if rep.ready.Load() {
				proxies[rep].ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, "no replica is ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(rs.lb.Close)
	rs.env = append([]string{"JAN_PUBLIC_URL=" + rs.lb.URL}, env...)
	for range n {
		rep := &replica{addr: freeAddr(t), dir: t.TempDir()}
		target := &url.URL{Scheme: "http", Host: rep.addr}
		proxies[rep] = &httputil.ReverseProxy{
			Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = pr.In.Host },
			FlushInterval: -1,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				t.Logf("balancer → %s: %v", rep.addr, err)
				http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
			},
		}
		rs.replicas = append(rs.replicas, rep)
		rs.start(rep)
	}
	stop := make(chan struct{})
	probed := make(chan struct{})
	go func() { // the balancer's readiness probes
		defer close(probed)
		client := &http.Client{Timeout: 200 * time.Millisecond}
		for {
			for _, rep := range rs.replicas {
				res, err := client.Get("http://" + rep.addr + "/readyz")
				if err == nil {
					res.Body.Close()
				}
				rep.ready.Store(err == nil && res.StatusCode == 200)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-probed })
	for _, rep := range rs.replicas {
		rs.awaitReady(rep)
	}
	return rs
}

func (rs *replicaSet) start(rep *replica) {
	rs.t.Helper()
	bin, err := janBinary()
	if err != nil {
		rs.t.Fatal(err)
	}
	rep.cmd = exec.Command(bin, append([]string{"serve", "--addr", rep.addr, "--data-dir", rep.dir, "--no-detect"}, rs.args...)...)
	rep.cmd.Env = append(append(rep.cmd.Environ(), "LOG_LEVEL=warn", "JAN_RATE_LIMIT_GUEST=off"), rs.env...)
	rep.out = startHealthy(rs.t, rep.cmd, rep.addr)
}

// awaitReady waits until the balancer sends to rep.
func (rs *replicaSet) awaitReady(rep *replica) {
	rs.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !rep.ready.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			rs.t.Fatalf("replica %s never became ready:\n%s", rep.addr, rep.out)
		}
	}
}

// restart stops rep with SIGTERM, as Kubernetes does in a rolling update,
// and starts it again on the same address and data dir.
func (rs *replicaSet) restart(rep *replica) {
	rs.t.Helper()
	if err := rep.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		rs.t.Fatal(err)
	}
	if err := rep.cmd.Wait(); err != nil {
		rs.t.Errorf("replica %s exited with %v after SIGTERM:\n%s", rep.addr, err, rep.out)
	}
	rs.start(rep)
	rs.awaitReady(rep)
}

func (rep *replica) url() string { return "http://" + rep.addr }

// call makes a request with a JSON body (nil: none) and returns the
// status and body; a transport error is status 0 with the error as body.
func call(method, url, token string, body any, hdr ...string) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return res.StatusCode, b
}

// conversationWith makes a conversation holding one user message.
func conversationWith(t *testing.T, base, token, text string) string {
	t.Helper()
	id, err := newConversation(base, token, text)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newConversation(base, token, text string) (string, error) {
	status, b := call("POST", base+"/v1/conversations", token, map[string]any{"items": []map[string]string{{"role": "user", "content": text}}})
	var c struct{ ID string }
	if json.Unmarshal(b, &c); status != 201 || c.ID == "" {
		return "", fmt.Errorf("new conversation: %d %s", status, b)
	}
	return c.ID, nil
}

// runStream is a run's SSE stream as a client reads it.
type runStream struct {
	runID  string
	lastID string          // the id of the last event read: the bytes of answer got
	text   strings.Builder // the answer so far
	status string          // the run's status in its last run event
	done   bool            // [DONE] came
	body   io.ReadCloser
	rd     *bufio.Reader
}

// attach reads events from res next.
func (s *runStream) attach(res *http.Response) error {
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	if id := res.Header.Get("X-Run-Id"); id != "" {
		s.runID = id
	}
	s.body, s.rd = res.Body, bufio.NewReader(res.Body)
	return nil
}

func (s *runStream) close() {
	if s.body != nil {
		s.body.Close()
	}
}

// read reads events until [DONE], the stream breaks, or max content
// events (max < 0: no limit).
func (s *runStream) read(max int) error {
	id := ""
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case line == "data: [DONE]":
			s.done = true
			return nil
		case strings.HasPrefix(line, "data: "):
			var ev struct {
				Object  string `json:"object"`
				Status  string `json:"status"`
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil {
				return fmt.Errorf("event %q: %v", line, err)
			}
			s.lastID = id
			if ev.Object == "run" {
				s.status = ev.Status
			} else if len(ev.Choices) > 0 && ev.Choices[0].Delta.Content != "" {
				s.text.WriteString(ev.Choices[0].Delta.Content)
				if max--; max == 0 {
					return nil
				}
			}
		}
	}
}

// startRun starts a streamed run of conv (background: it goes on without
// its client) at base.
func startRun(base, token, conv string, background bool) (*http.Response, error) {
	b, _ := json.Marshal(map[string]any{"stream": true, "background": background})
	req, _ := http.NewRequest("POST", base+"/v1/conversations/"+conv+"/runs", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// runningOn starts a streamed run on base of a new conversation whose
// message is text, and reads its first n content events; the stream stays
// open (close it, or read on).
func runningOn(t *testing.T, base, token, text string, background bool, n int) (conv string, s *runStream) {
	t.Helper()
	conv = conversationWith(t, base, token, text)
	res, err := startRun(base, token, conv, background)
	if err != nil {
		t.Fatal(err)
	}
	s = &runStream{}
	if err := s.attach(res); err != nil {
		t.Fatal(err)
	}
	if err := s.read(n); err != nil {
		t.Fatal(err)
	}
	return conv, s
}

// resume asks base for the rest of the run's events after s.lastID.
func (s *runStream) resume(base, token, conv string) (*http.Response, error) {
	req, _ := http.NewRequest("GET", base+"/v1/conversations/"+conv+"/runs/"+s.runID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Last-Event-ID", s.lastID)
	return http.DefaultClient.Do(req)
}

// follow reads a background run to its end through base, reconnecting
// with Last-Event-ID (up to 20 times) whenever the stream breaks.
func (s *runStream) follow(base, token, conv string, res *http.Response, err error) error {
	for try := 0; ; try++ {
		if err == nil {
			if err = s.attach(res); err == nil {
				err = s.read(-1)
				s.close()
				if err == nil {
					return nil
				}
			}
		}
		if try == 20 || s.runID == "" {
			return fmt.Errorf("after %d reconnects: %w", try, err)
		}
		time.Sleep(50 * time.Millisecond)
		res, err = s.resume(base, token, conv)
	}
}

// Three `jan serve` processes on one Postgres behind a round-robin
// balancer behave as one service: a token from one works on all, a run is
// cancelled and resumed through another replica, one Idempotency-Key
// reaches the engine once, a rolling restart under load fails no request
// and ends every run completed, and a replica killed with -9 leaves its
// background run incomplete with its answer so far, found by the others.
func TestThreeServeReplicas(t *testing.T) {
	dsn := pgtest.URL(t)
	var onceCalls atomic.Int32
	fake := fakeengine.New(fakeengine.Options{})
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" {
			b, _ := io.ReadAll(r.Body)
			if bytes.Contains(b, []byte("only once")) {
				onceCalls.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		fake.ServeHTTP(w, r)
	}))
	defer engine.Close()
	const staleAfter = 2 * time.Second
	rs := startReplicaSet(t, 3, engine.URL, dsn, "JAN_RUN_STALE_AFTER="+staleAfter.String(), "JAN_RUN_CHECKPOINT=200ms", "JAN_DRAIN_DELAY=300ms")
	lb := rs.lb.URL
	a, b, c := rs.replicas[0], rs.replicas[1], rs.replicas[2]
	tok := guestOf(t, a.url()).AccessToken

	t.Run("a token from one replica works on all", func(t *testing.T) {
		for _, rep := range rs.replicas {
			if status, body := call("GET", rep.url()+"/v1/models", tok, nil); status != 200 {
				t.Errorf("%s: %d %s", rep.addr, status, body)
			}
		}
	})

	t.Run("cancel through another replica", func(t *testing.T) {
		pgtest.AwaitListeners(t, dsn, 3)
		conv, s := runningOn(t, a.url(), tok, "a long story [fake:tokens=500] [fake:delay=20ms]", false, 3) // it is answering on A
		defer s.close()
		ended := make(chan time.Time, 1)
		go func() { _ = s.read(-1); ended <- time.Now() }()
		start := time.Now()
		status, body := call("POST", b.url()+"/v1/conversations/"+conv+"/runs/"+s.runID+"/cancel", tok, nil)
		end := <-ended
		t.Logf("cancelled through B: B answered in %v, A's stream ended %v after the request", time.Since(start), end.Sub(start))
		if status != 200 || !strings.Contains(string(body), `"incomplete"`) || s.status != "incomplete" || !s.done {
			t.Errorf("cancel: %d %s; A's stream ended with status %q, [DONE] %v", status, body, s.status, s.done)
		}
		if d := end.Sub(start); d > 900*time.Millisecond {
			t.Errorf("A's stream ended %v after the cancel: the notification was lost (the 1 s poll did it)", d)
		}
	})

	t.Run("a dropped stream resumes on another replica", func(t *testing.T) {
		const tokens = 60
		conv, s := runningOn(t, a.url(), tok, "a story [fake:tokens=60] [fake:delay=20ms]", true, 5)
		s.close() // a few events, then the client drops
		res, err := s.resume(c.url(), tok, conv)
		if err := s.follow(c.url(), tok, conv, res, err); err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(fakeengine.Answer(tokens), ""); s.text.String() != want || s.status != "completed" {
			t.Errorf("resumed on C: %q (%s)\nwant %q", s.text.String(), s.status, want)
		}
	})

	t.Run("one Idempotency-Key reaches the engine once", func(t *testing.T) {
		body := map[string]any{"model": "fake-model", "messages": []map[string]string{{"role": "user", "content": "only once [fake:ttft=200ms]"}}}
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		answers := map[string]bool{}
		for range 50 {
			wg.Go(func() {
				status, b := call("POST", lb+"/v1/chat/completions", tok, body, "Idempotency-Key", "one-key")
				mu.Lock()
				defer mu.Unlock()
				statuses[status]++
				if status == 200 {
					answers[string(b)] = true
				}
			})
		}
		wg.Wait()
		if n := onceCalls.Load(); n != 1 || statuses[200] == 0 || statuses[200]+statuses[409] != 50 || len(answers) != 1 {
			t.Errorf("%d engine calls; statuses %v; %d different answers", n, statuses, len(answers))
		}
	})

	t.Run("a rolling restart under load fails nothing", func(t *testing.T) {
		var requests, runs atomic.Int64
		var failMu sync.Mutex
		var failures []string
		fail := func(format string, args ...any) {
			failMu.Lock()
			defer failMu.Unlock()
			if failures = append(failures, fmt.Sprintf(format, args...)); len(failures) < 10 {
				t.Errorf(format, args...)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 { // the full path: a stored turn, an idempotency key
			conv := conversationWith(t, lb, tok, "hello")
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					body := map[string]any{"model": "fake-model", "conversation": map[string]string{"id": conv},
						"messages": []map[string]string{{"role": "user", "content": "turn " + strconv.Itoa(i)}}}
					status, b := call("POST", lb+"/v1/chat/completions", tok, body, "Idempotency-Key", fmt.Sprintf("w%d-%d", w, i))
					requests.Add(1)
					if status != 200 {
						fail("worker %d request %d: %d %.300s", w, i, status, b)
					}
				}
			})
		}
		wg.Go(func() { // background runs, followed through the balancer
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				conv, err := newConversation(lb, tok, "a story [fake:tokens=40] [fake:delay=10ms]")
				if err != nil {
					fail("run %d: %v", i, err)
					continue
				}
				res, err := startRun(lb, tok, conv, true)
				var s runStream
				if err := s.follow(lb, tok, conv, res, err); err != nil {
					fail("run %d: %v", i, err)
					continue
				}
				runs.Add(1)
				if want := strings.Join(fakeengine.Answer(40), ""); s.text.String() != want || s.status != "completed" {
					fail("run %d ended %s with %q", i, s.status, s.text.String())
				}
			}
		})
		time.Sleep(500 * time.Millisecond)
		for _, rep := range rs.replicas {
			rs.restart(rep)
			time.Sleep(300 * time.Millisecond)
		}
		for deadline := time.Now().Add(30 * time.Second); requests.Load() < 500 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		t.Logf("%d non-streaming requests and %d background runs through a rolling restart of 3 replicas; %d failed", requests.Load(), runs.Load(), len(failures))
		if requests.Load() < 500 {
			t.Errorf("only %d requests", requests.Load())
		}
	})

	t.Run("kill -9 of a background run's replica", func(t *testing.T) {
		conv, s := runningOn(t, a.url(), tok, "a long story [fake:tokens=1000] [fake:delay=10ms]", true, 5)
		s.close()
		// Another client follows it through B, from the start.
		follower := runStream{runID: s.runID, lastID: "0"}
		followed := make(chan error, 1)
		go func() {
			res, err := follower.resume(b.url(), tok, conv)
			if err == nil {
				if err = follower.attach(res); err == nil {
					err = follower.read(-1)
					follower.close()
				}
			}
			followed <- err
		}()
		time.Sleep(time.Second) // checkpoints (every 200 ms) are stored
		if err := a.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		_ = a.cmd.Wait()
		// The balancer stops sending to A at its next probe (every 20 ms),
		// as a Service drops an endpoint whose probe fails.
		for a.ready.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		var run struct {
			Status  string
			Message *struct{ Content, Status string }
		}
		for {
			status, body := call("GET", lb+"/v1/conversations/"+conv+"/runs/"+s.runID, tok, nil)
			if status != 200 {
				t.Fatalf("the run after kill -9: %d %s", status, body)
			}
			_ = json.Unmarshal(body, &run)
			if run.Status != "in_progress" {
				break
			}
			if time.Since(killed) > 3*staleAfter {
				t.Fatalf("the run is still in progress %v after its replica was killed", time.Since(killed))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("the run of the killed replica ended %s %v after the kill (stale after %v)", run.Status, time.Since(killed), staleAfter)
		answer := strings.Join(fakeengine.Answer(1000), "")
		if run.Status != "incomplete" || run.Message == nil || run.Message.Content == "" || !strings.HasPrefix(answer, run.Message.Content) {
			t.Fatalf("the run after kill -9: %+v", run)
		}
		select {
		case err := <-followed:
			if err != nil || follower.status != "incomplete" || follower.text.String() != run.Message.Content {
				t.Errorf("the follower on B: %v, status %q, text %d bytes (the message has %d)", err, follower.status, follower.text.Len(), len(run.Message.Content))
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the follower's stream on B did not end")
		}
	})
}
