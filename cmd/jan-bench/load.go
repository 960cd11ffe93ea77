package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is one way to reach the engine: direct, through the floor or
// through jan. The bearer token (a jan guest's) goes to all three, so the
// requests are the same bytes everywhere.
type endpoint struct {
	name  string
	base  string
	token string
	// responses: streams go to /v1/responses (jan only) instead of
	// /v1/chat/completions.
	responses bool
}

// newClient is the load generator's client: keep-alive pools large enough
// that conns concurrent requests to one host never churn connections, and
// never a proxy (traffic stays on loopback).
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: time.Minute, // no request may hang the run
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// call is one HTTP request of the benchmark.
type call struct {
	url     string
	token   string
	idemKey string
	body    []byte
}

func (c call) request(ctx context.Context) *http.Request {
	method := http.MethodPost
	var body io.Reader
	if c.body == nil {
		method = http.MethodGet
	} else {
		body = bytes.NewReader(c.body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, c.url, body)
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.idemKey != "" {
		req.Header.Set("Idempotency-Key", c.idemKey)
	}
	return req
}

// do sends c and reads the whole answer; a status other than want is an error.
func (c call) do(ctx context.Context, hc *http.Client, want int) ([]byte, error) {
	res, err := hc.Do(c.request(ctx))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s: HTTP %d: %.300s", c.url, res.StatusCode, b)
	}
	return b, nil
}

// chatBody is a chat completion request; conv, when set, is jan's
// conversation extension.
func chatBody(content string, stream bool, conv string) []byte {
	m := map[string]any{"model": benchModel, "messages": []map[string]string{{"role": "user", "content": content}}}
	if stream {
		m["stream"] = true
	}
	if conv != "" {
		m["conversation"] = conv
	}
	b, _ := json.Marshal(m)
	return b
}

// responsesBody is a Responses API request (jan's /v1/responses).
func responsesBody(input string, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{"model": benchModel, "input": input, "stream": stream})
	return b
}

// The request bodies. Directives ([fake:…], see internal/fakeengine) shape
// the engine's answer per request, so one engine serves every figure.
var (
	plainBody = chatBody("Say hello.", false, "")
	// 16 tokens, 250µs apart: TTFT is the first, and jan must flush it
	// rather than wait for the rest.
	ttftBody = chatBody("Say hello. [fake:tokens=16] [fake:delay=250us]", true, "")
	// One token a second for ten minutes: a stream that stays open.
	holdBody = chatBody("Keep talking. [fake:tokens=600] [fake:delay=1s]", true, "")
	// The same TTFT stream through the Responses API (stored, the default).
	ttftResponsesBody = responsesBody("Say hello. [fake:tokens=16] [fake:delay=250us]", true)
	// Streams as fast as the engine goes, shortStream and longStream
	// tokens long: [chat, responses][short, long].
	streamBodies = [2][2][]byte{
		{chatBody(fmt.Sprintf("Stream it. [fake:tokens=%d]", shortStream), true, ""), chatBody(fmt.Sprintf("Stream it. [fake:tokens=%d]", longStream), true, "")},
		{responsesBody(fmt.Sprintf("Stream it. [fake:tokens=%d]", shortStream), true), responsesBody(fmt.Sprintf("Stream it. [fake:tokens=%d]", longStream), true)},
	}
)

const shortStream, longStream = 16, 272

// guest returns an access token for a new jan guest.
func guest(ctx context.Context, hc *http.Client, janURL string) (string, error) {
	b, err := call{url: janURL + "/auth/guest", body: []byte("{}")}.do(ctx, hc, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("guest token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("guest token: unexpected answer %.200s", b)
	}
	return t.AccessToken, nil
}

func createConversation(ctx context.Context, hc *http.Client, janURL, token string) (string, error) {
	b, err := call{url: janURL + "/v1/conversations", token: token, body: []byte(`{"title":"bench"}`)}.do(ctx, hc, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("create conversation: %w", err)
	}
	var c struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return "", fmt.Errorf("create conversation: unexpected answer %.200s", b)
	}
	return c.ID, nil
}

// sequential measures one(ep) n times per endpoint after warm uncounted
// ones, interleaving the endpoints so that drift on a noisy machine hits
// all of them alike. Any error stops it.
func sequential(ctx context.Context, eps []endpoint, warm, n int, one func(endpoint) (time.Duration, error)) ([][]time.Duration, error) {
	out := make([][]time.Duration, len(eps))
	for i := range out {
		out[i] = make([]time.Duration, 0, n)
	}
	for i := range warm + n {
		for j, ep := range eps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			d, err := one(ep)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ep.name, err)
			}
			if i >= warm {
				out[j] = append(out[j], d)
			}
		}
	}
	return out, nil
}

// completionTime is the time of a whole non-streamed chat completion.
func completionTime(ctx context.Context, hc *http.Client, ep endpoint) (time.Duration, error) {
	start := time.Now()
	_, err := call{url: ep.base + "/v1/chat/completions", token: ep.token, body: plainBody}.do(ctx, hc, http.StatusOK)
	return time.Since(start), err
}

// firstTokenTime is the time to the first streamed chunk with content (a
// response.output_text.delta through the Responses API); the rest of the
// stream is read to its end.
func firstTokenTime(ctx context.Context, hc *http.Client, ep endpoint) (time.Duration, error) {
	start := time.Now()
	c := call{url: ep.base + "/v1/chat/completions", token: ep.token, body: ttftBody}
	if ep.responses {
		c = call{url: ep.base + "/v1/responses", token: ep.token, body: ttftResponsesBody}
	}
	res, err := hc.Do(c.request(ctx))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		return 0, fmt.Errorf("HTTP %d: %s", res.StatusCode, b)
	}
	r := bufio.NewReader(res.Body)
	content := isContent
	if ep.responses {
		content = isDelta
	}
	first, err := readUntil(r, content)
	if err != nil {
		return 0, err
	}
	ttft := first.Sub(start)
	end := []byte("data: [DONE]")
	if ep.responses {
		end = []byte(`data: {"type":"response.completed"`)
	}
	for {
		line, err := r.ReadSlice('\n')
		if bytes.HasPrefix(line, end) {
			// Read to the end of the response, as the SDKs do, so the
			// connection is reused rather than the next stream dialling.
			_, err = io.Copy(io.Discard, r)
			return ttft, err
		}
		if err != nil {
			return 0, fmt.Errorf("stream ended without %s: %w", end, err)
		}
	}
}

// isContent says whether an SSE line is a chat chunk carrying content.
func isContent(line []byte) bool {
	return bytes.HasPrefix(line, []byte("data: {")) && bytes.Contains(line, []byte(`"content":"`)) &&
		!bytes.Contains(line, []byte(`"content":""`))
}

// isDelta says whether an SSE line is a Responses text delta.
func isDelta(line []byte) bool {
	return bytes.HasPrefix(line, []byte(`data: {"type":"response.output_text.delta"`))
}

// readUntil reads SSE lines up to the first for which match is true and
// returns when it arrived.
func readUntil(r *bufio.Reader, match func([]byte) bool) (time.Time, error) {
	for {
		line, err := r.ReadSlice('\n')
		if match(line) {
			return time.Now(), nil
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("stream ended before any content: %w", err)
		}
	}
}

// fullPath is jan's full-path workload: a guest per client, a unique
// Idempotency-Key per request and a stored conversation that changes every
// 20 requests, so histories stay short.
type fullPath struct {
	janURL string
	tokens []string   // per client
	convs  [][]string // per client
	bodies [][][]byte // per client, per conversation: built once, as the floor's body is
	sent   []int      // per client, across the warm-up and the run
	keys   atomic.Int64
}

// newFullPath creates the guests and convs conversations for each.
func newFullPath(ctx context.Context, hc *http.Client, janURL string, clients, convs int) (*fullPath, error) {
	fp := &fullPath{janURL: janURL, tokens: make([]string, clients), convs: make([][]string, clients),
		bodies: make([][][]byte, clients), sent: make([]int, clients)}
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if fp.tokens[c], errs[c] = guest(ctx, hc, janURL); errs[c] != nil {
				return
			}
			for range convs {
				id, err := createConversation(ctx, hc, janURL, fp.tokens[c])
				if err != nil {
					errs[c] = err
					return
				}
				fp.convs[c] = append(fp.convs[c], id)
				fp.bodies[c] = append(fp.bodies[c], chatBody("Say hello.", false, id))
			}
		}()
	}
	wg.Wait()
	return fp, errors.Join(errs...)
}

// next is client c's next request; only client c's goroutine calls it.
func (fp *fullPath) next(c, _ int) call {
	pool := fp.bodies[c]
	body := pool[fp.sent[c]/20%len(pool)]
	fp.sent[c]++
	return call{url: fp.janURL + "/v1/chat/completions", token: fp.tokens[c],
		idemKey: "bench-" + strconv.FormatInt(fp.keys.Add(1), 10), body: body}
}

// checkStored makes sure the run did what it claims: client 0's first
// conversation holds its requests' messages and the answers.
func (fp *fullPath) checkStored(ctx context.Context, hc *http.Client) error {
	b, err := call{url: fp.janURL + "/v1/conversations/" + fp.convs[0][0] + "/messages?limit=100", token: fp.tokens[0]}.do(ctx, hc, http.StatusOK)
	if err != nil {
		return fmt.Errorf("full path: list stored messages: %w", err)
	}
	var page struct {
		Data []struct {
			Role string `json:"role"`
		} `json:"data"`
	}
	_ = json.Unmarshal(b, &page)
	roles := map[string]int{}
	for _, m := range page.Data {
		roles[m.Role]++
	}
	if roles["user"] == 0 || roles["assistant"] == 0 {
		return fmt.Errorf("full path: conversation %s was not stored to (messages by role: %v)", fp.convs[0][0], roles)
	}
	return nil
}

// loadResult is one throughput run, or several added up.
type loadResult struct {
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	CPU        time.Duration `json:"cpu_ns"`       // used by the process under test
	Busy       float64       `json:"machine_busy"` // fraction of all cores busy, all processes
}

func (r loadResult) rps() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r loadResult) cpuPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// add sums two runs; Busy is weighted by their lengths.
func (r loadResult) add(o loadResult) loadResult {
	sum := loadResult{Requests: r.Requests + o.Requests, Errors: r.Errors + o.Errors, FirstError: cmp.Or(r.FirstError, o.FirstError),
		Elapsed: r.Elapsed + o.Elapsed, CPU: r.CPU + o.CPU}
	if sum.Elapsed > 0 {
		sum.Busy = (r.Busy*r.Elapsed.Seconds() + o.Busy*o.Elapsed.Seconds()) / sum.Elapsed.Seconds()
	}
	return sum
}

// load runs clients concurrent loops of next(client, i) for d and counts
// the answers (200) and errors (anything else). Requests in flight at the
// deadline finish and count.
func load(ctx context.Context, hc *http.Client, clients int, d time.Duration, next func(client, i int) call) loadResult {
	var ok, failed atomic.Int64
	var firstErr sync.Once
	var res loadResult
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				if _, err := next(c, i).do(ctx, hc, http.StatusOK); err != nil {
					failed.Add(1)
					firstErr.Do(func() { res.FirstError = err.Error() })
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests, res.Errors = ok.Load(), failed.Load()
	return res
}

// holdStreams opens n streams to ep, waits until every one has received its
// first content chunk, calls measure while all n are open, then closes them.
func holdStreams(ctx context.Context, ep endpoint, n int, measure func() error) error {
	hc := newClient(n)
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	started := make(chan error, n)
	opening := make(chan struct{}, 64) // at most 64 streams being opened at once
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opening <- struct{}{}
			res, err := hc.Do(call{url: ep.base + "/v1/chat/completions", token: ep.token, body: holdBody}.request(ctx))
			if err == nil && res.StatusCode != http.StatusOK {
				err = errors.New("HTTP " + strconv.Itoa(res.StatusCode))
			}
			if err != nil {
				<-opening
				started <- err
				return
			}
			defer res.Body.Close()
			r := bufio.NewReader(res.Body)
			_, err = readUntil(r, isContent)
			<-opening
			started <- err
			if err == nil {
				_, _ = io.Copy(io.Discard, r) // until cancelled
			}
		}()
	}
	timeout := time.After(60 * time.Second)
	for range n {
		select {
		case err := <-started:
			if err != nil {
				return fmt.Errorf("%s: open stream: %w", ep.name, err)
			}
		case <-timeout:
			return fmt.Errorf("%s: %d streams did not all start within 60s", ep.name, n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	time.Sleep(300 * time.Millisecond) // let the last ones settle
	return measure()
}
