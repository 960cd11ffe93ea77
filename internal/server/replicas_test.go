package server

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store/pgtest"
)

// Two replicas on one Postgres, each with its own data dir and its own key
// file, sign and verify with the key in the database: a token from one
// works on the other, and both publish the same JWKS.
func TestReplicasShareSigningKeys(t *testing.T) {
	dsn := pgtest.URL(t)
	const public = "http://jan.replicas.test" // the load balancer's address: the tokens' issuer
	a := newEnv(t, envOptions{dsn: dsn, publicURL: public})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	b := newEnv(t, envOptions{dsn: dsn, publicURL: public, keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})})

	tokA, tokB := a.guest(), b.guest()
	for _, c := range []struct {
		name string
		e    *env
		tok  string
	}{{"A's token on B", b, tokA}, {"B's token on A", a, tokB}} {
		if r := c.e.do("GET", "/v1/models", c.tok, nil, nil); r.status != 200 {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	jwksA := a.do("GET", "/.well-known/jwks.json", "", nil, nil)
	jwksB := b.do("GET", "/.well-known/jwks.json", "", nil, nil)
	if string(jwksA.body) != string(jwksB.body) {
		t.Errorf("the replicas publish different keys:\n%s\n%s", jwksA.body, jwksB.body)
	}
	// A conversation made through A is B's to read: the same principal.
	conv := a.newConversation(tokA, "hello")
	if r := b.do("GET", "/v1/conversations/"+conv, tokA, nil, nil); r.status != 200 {
		t.Errorf("A's conversation through B: %d %s", r.status, r.body)
	}
}

// A run streaming on replica A is cancelled through replica B: A hears it
// (Postgres NOTIFY) and stops the run, B answers with it ended.
func TestCancelThroughAnotherReplica(t *testing.T) {
	dsn := pgtest.URL(t)
	const public = "http://jan.replicas.test"
	slow := fakeengine.Options{TokenDelay: 50 * time.Millisecond, Tokens: 200} // 10 s unless stopped
	a := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: slow})
	b := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: slow})
	pgtest.AwaitListeners(t, dsn, 2)
	tok := a.guest()
	conv := a.newConversation(tok, "tell me a long story")

	res, events := streamingRun(t, a, tok, conv)
	defer res.Body.Close()
	runID := res.Header.Get("X-Run-Id")
	start := time.Now()
	r := b.do("POST", "/v1/conversations/"+conv+"/runs/"+runID+"/cancel", tok, nil, nil)
	took := time.Since(start)
	var run struct{ Status string }
	r.decode(t, &run)
	if r.status != 200 || run.Status != "incomplete" {
		t.Fatalf("cancel through B: %d %s", r.status, r.body)
	}
	t.Logf("cancelled through the other replica in %v", took)
	if took > 900*time.Millisecond {
		t.Errorf("the cancel took %v: the notification did not arrive (the 1 s poll did)", took)
	}
	rest, _ := io.ReadAll(events) // A's stream ends
	if !strings.Contains(string(rest), `"incomplete"`) || !strings.Contains(string(rest), "[DONE]") {
		t.Errorf("A's stream after the cancel:\n%s", rest)
	}
	if got := a.messages(tok, conv); len(got) != 2 || got[1].Status != "incomplete" || got[1].Content == "" {
		t.Errorf("the partial answer is not kept: %+v", got)
	}
}

// streamingRun starts a streamed run of conv on e and reads it up to its
// first token.
func streamingRun(t testing.TB, e *env, tok, conv string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.URL+"/v1/conversations/"+conv+"/runs", strings.NewReader(`{"model":"`+testModel+`","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	events := bufio.NewReader(res.Body)
	for {
		line, err := events.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended before a token: %v", err)
		}
		if strings.Contains(line, "chat.completion.chunk") && strings.Contains(line, `"content":"`) {
			return res, events
		}
	}
}

// BenchmarkCrossReplicaCancel: runs streaming on replica A, each cancelled
// through replica B; the figure is the time from the cancel request to B's
// answer with the run ended (A heard, stopped it and stored it), p50/p99.
func BenchmarkCrossReplicaCancel(b *testing.B) {
	dsn := pgtest.URL(b)
	const public = "http://jan.replicas.test"
	slow := fakeengine.Options{TokenDelay: 20 * time.Millisecond, Tokens: 1000}
	a := newEnv(b, envOptions{dsn: dsn, publicURL: public, engine: slow})
	other := newEnv(b, envOptions{dsn: dsn, publicURL: public, engine: slow})
	pgtest.AwaitListeners(b, dsn, 2)
	tok := a.guest()
	conv := a.newConversation(tok, "go on")
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		res, _ := streamingRun(b, a, tok, conv)
		b.StartTimer()
		start := time.Now()
		r := other.do("POST", "/v1/conversations/"+conv+"/runs/"+res.Header.Get("X-Run-Id")+"/cancel", tok, nil, nil)
		took = append(took, time.Since(start))
		b.StopTimer()
		if r.status != 200 || !strings.Contains(string(r.body), `"incomplete"`) {
			b.Fatalf("cancel: %d %s", r.status, r.body)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
}

// sseRead reads SSE events (id and data) until [DONE] or n data events.
func sseRead(t *testing.T, rd *bufio.Reader, n int) (ids []string, data []string) {
	t.Helper()
	id := ""
	for n < 0 || len(data) < n {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v (after %d events)", err, len(data))
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			d := strings.TrimPrefix(line, "data: ")
			ids, data = append(ids, id), append(data, d)
			if d == "[DONE]" {
				return ids, data
			}
		}
	}
	return ids, data
}

// contentOf joins the content deltas of chat.completion.chunk events.
func contentOf(t *testing.T, data []string) string {
	var b strings.Builder
	for _, d := range data {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(d), &c) == nil && c.Object == "chat.completion.chunk" && len(c.Choices) > 0 {
			b.WriteString(c.Choices[0].Delta.Content)
		}
	}
	return b.String()
}

// A background run's stream, dropped after a few events on replica A, is
// resumed with Last-Event-ID on replica B — live while it runs — and on A
// after it ended: the text is the engine's answer exactly, with no gap
// and no duplicate.
func TestResumeRunOnAnotherReplica(t *testing.T) {
	dsn := pgtest.URL(t)
	const public = "http://jan.replicas.test"
	const tokens = 60
	slow := fakeengine.Options{TokenDelay: 40 * time.Millisecond, Tokens: tokens} // 2.4 s
	a := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: slow})
	b := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: slow})
	tok := a.guest()
	conv := a.newConversation(tok, "a story")
	want := strings.Join(fakeengine.Answer(tokens), "")

	req, _ := http.NewRequest("POST", a.URL+"/v1/conversations/"+conv+"/runs", strings.NewReader(`{"model":"`+testModel+`","stream":true,"background":true}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	runID := res.Header.Get("X-Run-Id")
	ids, data := sseRead(t, bufio.NewReader(res.Body), 6) // the run object and 5 chunks
	res.Body.Close()                                      // the client goes away
	first, last := contentOf(t, data), ids[len(ids)-1]
	if last != strconv.Itoa(len(first)) || first == "" {
		t.Fatalf("event ids are not answer offsets: last id %q after %q", last, first)
	}

	resume := func(e *env, lastID string) (string, []string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.URL+"/v1/conversations/"+conv+"/runs/"+runID+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Last-Event-ID", lastID)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			body, _ := io.ReadAll(res.Body)
			t.Fatalf("resume: %d %s", res.StatusCode, body)
		}
		_, data := sseRead(t, bufio.NewReader(res.Body), -1)
		return contentOf(t, data), data
	}
	// On B, while the run goes on (on A, without its client).
	rest, data := resume(b, last)
	if first+rest != want {
		t.Fatalf("resumed on B: %q + %q\nwant %q", first, rest, want)
	}
	var final struct{ Status string }
	_ = json.Unmarshal([]byte(data[len(data)-2]), &final)
	if final.Status != "completed" {
		t.Errorf("the run's final event: %s", data[len(data)-2])
	}
	// On A, after it ended: from the stored message.
	if rest, _ := resume(a, last); first+rest != want {
		t.Errorf("resumed on A after the end: %q", first+rest)
	}
	if all, _ := resume(a, "0"); all != want {
		t.Errorf("replayed from the start: %q", all)
	}
	// An id past the end of the answer is refused.
	r := a.do("GET", "/v1/conversations/"+conv+"/runs/"+runID+"/events?after=999999", tok, nil, nil)
	if r.status != 400 {
		t.Errorf("an id past the answer: %d %s", r.status, r.body)
	}
}

// A background run without a stream answers at once and finishes anyway.
func TestBackgroundRunWithoutStream(t *testing.T) {
	e := newEnv(t, envOptions{engine: fakeengine.Options{TokenDelay: 20 * time.Millisecond, Tokens: 20}})
	tok := e.guest()
	conv := e.newConversation(tok, "hi")
	r := e.do("POST", "/v1/conversations/"+conv+"/runs", tok, map[string]any{"model": testModel, "background": true}, nil)
	var run struct{ ID, Status string }
	r.decode(t, &run)
	if r.status != 200 || run.Status != "in_progress" {
		t.Fatalf("background run: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		g := e.do("GET", "/v1/conversations/"+conv+"/runs/"+run.ID, tok, nil, nil)
		g.decode(t, &run)
		if run.Status != "in_progress" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if run.Status != "completed" {
		t.Fatalf("the background run ended %s", run.Status)
	}
	if msgs := e.messages(tok, conv); len(msgs) != 2 || msgs[1].Content != strings.Join(fakeengine.Answer(20), "") {
		t.Errorf("its answer: %+v", msgs)
	}
}

// A background response running on replica A is cancelled through B.
func TestCancelResponseThroughAnotherReplica(t *testing.T) {
	dsn := pgtest.URL(t)
	const public = "http://jan.replicas.test"
	slow := fakeengine.Options{TokenDelay: 50 * time.Millisecond, Tokens: 200}
	a := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: slow})
	b := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: slow})
	pgtest.AwaitListeners(t, dsn, 2)
	tok := a.guest()
	r := a.do("POST", "/v1/responses", tok, map[string]any{"model": testModel, "input": "a long story", "background": true}, nil)
	var resp struct{ ID, Status string }
	r.decode(t, &resp)
	if r.status != 200 || (resp.Status != "queued" && resp.Status != "in_progress") {
		t.Fatalf("background response: %d %s", r.status, r.body)
	}
	time.Sleep(300 * time.Millisecond) // it is generating on A
	start := time.Now()
	r = b.do("POST", "/v1/responses/"+resp.ID+"/cancel", tok, nil, nil)
	took := time.Since(start)
	r.decode(t, &resp)
	if r.status != 200 || resp.Status != "cancelled" {
		t.Fatalf("cancel through B: %d %s", r.status, r.body)
	}
	t.Logf("cancelled through the other replica in %v", took)
	if took > 900*time.Millisecond {
		t.Errorf("the cancel took %v: the notification did not arrive", took)
	}
}

// Three replicas on one Postgres behind a round-robin proxy: a token from
// any works through all, and 50 requests with one Idempotency-Key, spread
// over the replicas at once, reach an engine once; every answer is that
// one answer (or, while it runs, 409).
func TestThreeReplicasOneIdempotencyKey(t *testing.T) {
	dsn := pgtest.URL(t)
	const public = "http://jan.replicas.test"
	var calls atomic.Int32
	var envs []*env
	for range 3 {
		e := newEnv(t, envOptions{dsn: dsn, publicURL: public, engine: fakeengine.Options{TTFT: 200 * time.Millisecond}})
		e.engineHook = func(r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/chat/completions") {
				calls.Add(1)
			}
		}
		envs = append(envs, e)
	}
	var next atomic.Int32
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := envs[int(next.Add(1))%len(envs)]
		e.http.Config.Handler.ServeHTTP(w, r)
	}))
	defer lb.Close()
	front := &env{t: t, URL: lb.URL}

	tok := envs[0].guest()
	for i := range 3 {
		if r := front.do("GET", "/v1/models", tok, nil, nil); r.status != 200 {
			t.Fatalf("request %d through the balancer: %d %s", i, r.status, r.body)
		}
	}
	body := map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "once"}}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	answers := map[string]bool{}
	for range 50 {
		wg.Go(func() {
			r := front.do("POST", "/v1/chat/completions", tok, body, map[string]string{"Idempotency-Key": "same-key"})
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == 200 {
				answers[string(r.body)] = true
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("the engine was called %d times for one Idempotency-Key", n)
	}
	if statuses[200] == 0 || statuses[200]+statuses[409] != 50 || len(answers) != 1 {
		t.Errorf("statuses %v, %d different answers", statuses, len(answers))
	}
	// After it finished, every replica replays it.
	for i := range 3 {
		r := front.do("POST", "/v1/chat/completions", tok, body, map[string]string{"Idempotency-Key": "same-key"})
		if r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" || !answers[string(r.body)] {
			t.Errorf("replay %d: %d %v", i, r.status, r.header)
		}
	}
}
