package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

// The attack suite: what an exposed server meets, each test asserting the
// bound that holds it (`go test -run Attack ./...`). Everything runs on
// loopback and is bounded in time and size. The attacks that are measured
// as memory of a separate process are in cmd/jan/attack_test.go.

// rawRequest opens a connection and writes head (the request line and
// headers, without the blank line) followed by the first body bytes.
func (e *env) rawRequest(head string, body string) net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head+"\r\nHost: jan\r\n\r\n"+body); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// readResponse reads one response from c within d.
func readResponse(t testing.TB, c net.Conn, d time.Duration) (*http.Response, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response within %s: %v", d, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// A private route refuses a request without credentials before reading its
// body: the 401 comes back while the 4 MiB body has not been sent at all.
func TestAttackUnauthenticatedBodyIsNeverRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/v1/chat/completions", "/v1/conversations", "/v1/api-keys"} {
		c := e.rawRequest("POST "+path+" HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 4194303", "{")
		res, b := readResponse(t, c, 2*time.Second)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"missing_token"`) {
			t.Fatalf("%s: %d %s", path, res.StatusCode, b)
		}
		// The unread body is not waited for: the connection closes.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s: the connection stayed open (%d more bytes)", path, n)
		}
	}
	// A small unread body does not keep the connection either, whatever the
	// method: net/http's discard of it is bounded by the body's grace period.
	e2 := newEnv(t, envOptions{bodies: BodyLimits{Grace: 300 * time.Millisecond}})
	for _, method := range []string{"POST /v1/conversations", "DELETE /v1/conversations/conv_x", "GET /v1/models"} {
		c := e2.rawRequest(method+" HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100", "{")
		start := time.Now()
		if res, _ := readResponse(t, c, 2*time.Second); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s, small body: %d", method, res.StatusCode)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("%s, small stalled body: connection still open after %s (%v)", method, time.Since(start), err)
		}
	}
}

// An authenticated body that trickles in is cut once it falls behind the
// minimum rate after the grace period, and any body is cut at the timeout;
// a body that keeps up is read.
func TestAttackSlowBodyIsCut(t *testing.T) {
	e := newEnv(t, envOptions{bodies: BodyLimits{Grace: 300 * time.Millisecond, MinRate: 1000, Timeout: 1500 * time.Millisecond}})
	tok := e.guest()
	head := "POST /v1/conversations HTTP/1.1\r\nAuthorization: Bearer " + tok + "\r\nContent-Type: application/json\r\nContent-Length: 5000"

	// 10 bytes every 100 ms (100 B/s): cut soon after the grace.
	var wg sync.WaitGroup
	const conns = 50
	results := make(chan string, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.rawRequest(head, "")
			start := time.Now()
			go func() {
				for i := 0; i < 50; i++ {
					if _, err := io.WriteString(c, "          "); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				results <- "no response: " + err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			if took := time.Since(start); res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "body_timeout") || took > 2*time.Second {
				results <- fmt.Sprintf("%d after %s: %s", res.StatusCode, took, b)
				return
			}
			results <- ""
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "" {
			t.Fatalf("slow body: %s", r)
		}
	}

	// 2000 B/s keeps up with the rate but not with the 1.5 s timeout for 5000 bytes.
	c := e.rawRequest(head, "")
	go func(c net.Conn) {
		for i := 0; i < 50; i++ {
			if _, err := io.WriteString(c, strings.Repeat(" ", 200)); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}(c)
	if res, b := readResponse(t, c, 4*time.Second); res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("body past the timeout: %d %s", res.StatusCode, b)
	}

	// A whole body sent at once is fine, and the connection's deadline is
	// lifted for what follows.
	c = e.rawRequest(strings.Replace(head, "5000", "2", 1), "{}")
	if res, b := readResponse(t, c, 2*time.Second); res.StatusCode != http.StatusCreated {
		t.Fatalf("prompt body: %d %s", res.StatusCode, b)
	}
}

// The bytes of all bodies held at once are capped: past the cap a request
// gets 503 with Retry-After, and the budget comes back when requests end.
func TestAttackBodyBufferIsCapped(t *testing.T) {
	e := newEnv(t, envOptions{bodies: BodyLimits{Buffer: 1 << 20, Grace: 5 * time.Second}})
	tok := e.guest()
	head := func(n int) string {
		return fmt.Sprintf("POST /v1/conversations HTTP/1.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d", tok, n)
	}
	held := e.rawRequest(head(800<<10), "{") // holds 800 KiB of the 1 MiB while it trickles
	time.Sleep(100 * time.Millisecond)
	c := e.rawRequest(head(400<<10), "")
	res, b := readResponse(t, c, 2*time.Second)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"server_busy"`) {
		t.Fatalf("over the buffer: %d %v %s", res.StatusCode, res.Header, b)
	}
	// Chunked bodies are counted as they grow.
	c = e.rawRequest("POST /v1/conversations HTTP/1.1\r\nAuthorization: Bearer "+tok+"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
		fmt.Sprintf("%x\r\n%s\r\n", 300<<10, strings.Repeat(" ", 300<<10)))
	if res, b := readResponse(t, c, 2*time.Second); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("chunked over the buffer: %d %s", res.StatusCode, b)
	}
	held.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		r := e.do("POST", "/v1/conversations", tok, `{"title":"`+strings.Repeat("x", 200)+`"}`+strings.Repeat(" ", 400<<10), nil)
		if r.status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the budget did not come back: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Guests are minted per client address at a bounded rate; a client cannot
// pretend to be many addresses with X-Forwarded-For, but the gateway (which
// carries the secret) can say whom it forwards for.
func TestAttackGuestFloodFromOneAddress(t *testing.T) {
	limits := DefaultRateLimits()
	limits.Address = RateLimit{PerMinute: 60, Burst: 5}
	e := newEnv(t, envOptions{limits: &limits, gateway: "gw-secret"})
	for i := 0; i < 5; i++ {
		if r := e.do("POST", "/auth/guest", "", nil, nil); r.status != http.StatusCreated {
			t.Fatalf("guest %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.do("POST", "/auth/guest", "", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limit_exceeded" || r.header.Get("Retry-After") == "" {
		t.Fatalf("6th guest from one address: %d %s", r.status, r.body)
	}
	// Every /auth write shares the address's bucket.
	if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": "x"}, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("refresh after the flood: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/auth/token", "", "grant_type=password&username=a&password=b",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.status != http.StatusTooManyRequests {
		t.Fatalf("password grant after the flood: %d %s", r.status, r.body)
	}
	// Through the gateway, the address it appended is the client.
	for i := 0; i < 5; i++ {
		r := e.do("POST", "/auth/guest", "", nil, map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7", GatewaySecretHeader: "gw-secret"})
		if r.status != http.StatusCreated {
			t.Fatalf("guest %d via the gateway: %d %s", i, r.status, r.body)
		}
	}
	r = e.do("POST", "/auth/guest", "", nil, map[string]string{"X-Forwarded-For": "198.51.100.2, 203.0.113.7", GatewaySecretHeader: "gw-secret"})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("6th guest from 203.0.113.7 via the gateway: %d", r.status)
	}
	// A wrong secret: the header is the client's own and is ignored.
	r = e.do("POST", "/auth/guest", "", nil, map[string]string{"X-Forwarded-For": "192.0.2.44", GatewaySecretHeader: "guess"})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("forged X-Forwarded-For: %d", r.status)
	}
}

func TestClientAddr(t *testing.T) {
	s := &Server{gatewaySecret: "s"}
	for _, c := range []struct {
		remote, xff, secret, want string
	}{
		{"127.0.0.1:5000", "", "", "127.0.0.1"},
		{"127.0.0.1:5000", "9.9.9.9", "", "127.0.0.1"},
		{"127.0.0.1:5000", "9.9.9.9", "s", "9.9.9.9"},
		{"127.0.0.1:5000", "1.1.1.1,  9.9.9.9 ", "s", "9.9.9.9"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "", "2001:db8:1:2::/64"},
		{"[::ffff:10.0.0.1]:443", "", "", "10.0.0.1"},
		{"10.0.0.2:1", "garbage", "s", "garbage"},
	} {
		r, _ := http.NewRequest("POST", "/auth/guest", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.secret != "" {
			r.Header.Set(GatewaySecretHeader, c.secret)
		}
		if got := s.clientAddr(r); got != c.want {
			t.Errorf("%+v: %q, want %q", c, got, c.want)
		}
	}
}

// Every answer is the error envelope, including the ones net/http writes
// before a handler runs and the mux's own 404/405/redirects.
func TestAttackProtocolEdgesUseTheEnvelope(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.guest()
	envelope := func(what string, res *http.Response, b []byte, status int, code string) {
		t.Helper()
		r := response{status: res.StatusCode, header: res.Header, body: b}
		if r.status != status || r.errorCode(t) != code || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %v %s, want %d %s", what, r.status, res.Header, b, status, code)
		}
	}
	for _, c := range []struct {
		what, raw    string
		status       int
		code, header string
	}{
		{"oversized headers", "GET /v1/models HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 80<<10), 431, "headers_too_large", ""},
		{"malformed header", "GET /v1/models HTTP/1.1\r\nthis is not a header", 400, "bad_request", ""},
		{"no Host", "GET /v1/models HTTP/1.1\r\nX: y\r\n\r\n", 400, "bad_request", ""},
		{"transfer encoding", "POST /v1/models HTTP/1.1\r\nTransfer-Encoding: rot13", 501, "unsupported_transfer_encoding", ""},
		{"dot-dot path", "GET /v1/../v1/models HTTP/1.1", 404, "unknown_route", ""},
		{"double slash", "GET //v1/models HTTP/1.1", 404, "unknown_route", ""},
		{"OPTIONS", "OPTIONS /v1/models HTTP/1.1", 405, "method_not_allowed", "GET, HEAD"},
		{"wrong method", "PUT /v1/conversations/conv_x HTTP/1.1", 405, "method_not_allowed", "GET, HEAD, POST, PATCH, DELETE"},
		{"unknown path", "GET /v2/nothing HTTP/1.1", 404, "unknown_route", ""},
	} {
		raw := c.raw
		if c.what == "no Host" {
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, raw)
			res, b := readResponse(t, conn, 2*time.Second)
			envelope(c.what, res, b, c.status, c.code)
			continue
		}
		conn := e.rawRequest(raw, "")
		res, b := readResponse(t, conn, 2*time.Second)
		envelope(c.what, res, b, c.status, c.code)
		if c.header != "" && res.Header.Get("Allow") != c.header {
			t.Errorf("%s: Allow = %q, want %q", c.what, res.Header.Get("Allow"), c.header)
		}
	}
	// Bodies are UTF-8: another charset is 415, other bytes 400.
	r := e.do("POST", "/v1/conversations", tok, `{"title":"x"}`, map[string]string{"Content-Type": "application/json; charset=utf-16"})
	if r.status != http.StatusUnsupportedMediaType || r.errorCode(t) != "unsupported_media_type" {
		t.Errorf("utf-16: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/chat/completions", tok, "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", nil); r.status != 400 || r.errorCode(t) != "invalid_utf8" {
		t.Errorf("invalid UTF-8 body: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/conversations", tok, `{}`, map[string]string{"Content-Type": "application/json; charset=UTF-8"}); r.status != http.StatusCreated {
		t.Errorf("charset=UTF-8: %d %s", r.status, r.body)
	}
}

// onBothBackends runs test against SQLite and Postgres.
func onBothBackends(t *testing.T, o envOptions, test func(t *testing.T, e *env)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			o := o
			o.postgres = db == "postgres"
			test(t, newEnv(t, o))
		})
	}
}

// Titles are bounded, and no list response grows past the list byte budget
// however large its items: pages shorten, and paging still reaches every
// item once.
func TestAttackHugeTitlesAndLists(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		tok := e.guest()
		if r := e.do("POST", "/v1/conversations", tok, map[string]any{"title": strings.Repeat("é", 257)}, nil); r.status != 400 || r.param(t) != "title" {
			t.Fatalf("257-character title: %d %s", r.status, r.body)
		}
		conv := e.newConversation(tok, "")
		if r := e.do("PATCH", "/v1/conversations/"+conv, tok, map[string]any{"title": strings.Repeat("x", 4<<20-100)}, nil); r.status != 400 || r.param(t) != "title" {
			t.Fatalf("4 MiB title update: %d %.200s", r.status, r.body)
		}
		if r := e.do("POST", "/v1/conversations", tok, map[string]any{"title": strings.Repeat("é", 256)}, nil); r.status != 201 {
			t.Fatalf("256-character title: %d %s", r.status, r.body)
		}
		const n, size = 10, 300 << 10
		for i := 0; i < n; i++ {
			r := e.do("POST", "/v1/conversations/"+conv+"/messages", tok, map[string]any{"role": "user", "content": fmt.Sprintf("%d%s", i, strings.Repeat("m", size))}, nil)
			if r.status != 201 {
				t.Fatalf("message %d: %d", i, r.status)
			}
		}
		for _, path := range []string{"/messages", "/items"} {
			seen := map[string]bool{}
			after := ""
			for page := 0; page < n+1; page++ {
				url := "/v1/conversations/" + conv + path + "?limit=100"
				if after != "" {
					url += "&after=" + after
				}
				r := e.do("GET", url, tok, nil, nil)
				if r.status != 200 || len(r.body) > 2<<20 {
					t.Fatalf("%s page %d: %d, %d bytes", path, page, r.status, len(r.body))
				}
				var l struct {
					Data      []struct{ ID string }
					HasMore   bool    `json:"has_more"`
					NextAfter *string `json:"next_after"`
				}
				r.decode(t, &l)
				for _, m := range l.Data {
					if seen[m.ID] {
						t.Fatalf("%s: %s twice", path, m.ID)
					}
					seen[m.ID] = true
				}
				if !l.HasMore {
					break
				}
				after = *l.NextAfter
			}
			if len(seen) != n {
				t.Fatalf("%s: paging reached %d of %d messages", path, len(seen), n)
			}
		}
	})
}

// NUL and invalid UTF-8 in ids, cursors, content, titles, metadata, names
// and Idempotency-Key are a 400 naming the field on both backends, and a
// chat on a conversation is refused before the engine is called.
func TestAttackNULAndInvalidUTF8(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		tok := e.guest()
		conv := e.newConversation(tok, "hello")
		var engineCalls atomic.Int32
		e.engineHook = func(*http.Request) { engineCalls.Add(1) }
		for _, c := range []struct {
			method, path string
			body         any
			header       map[string]string
			param        string
		}{
			{"POST", "/v1/conversations", `{"title":"a\u0000b"}`, nil, "title"},
			{"POST", "/v1/conversations", `{"metadata":{"k":"v\u0000"}}`, nil, "metadata"},
			{"PATCH", "/v1/conversations/" + conv, `{"title":"\u0000"}`, nil, "title"},
			{"POST", "/v1/conversations/" + conv + "/messages", `{"role":"user","content":"x\u0000y"}`, nil, "content"},
			{"POST", "/v1/conversations/" + conv + "/items", `{"items":[{"type":"message","role":"user","content":[{"type":"input_text","text":"\u0000"}]}]}`, nil, "items[0].content[0].text"},
			{"POST", "/v1/chat/completions", `{"model":"fake-model","conversation":"` + conv + `","messages":[{"role":"user","content":"hi\u0000"}]}`, nil, "messages[0].content"},
			{"POST", "/v1/chat/completions", `{"model":"fake-model","conversation":"conv_\u0000","messages":[{"role":"user","content":"hi"}]}`, nil, "conversation"},
			{"GET", "/v1/conversations/conv_%00", nil, nil, "id"},
			{"GET", "/v1/conversations/%FF%FE", nil, nil, "id"},
			{"POST", "/v1/conversations/" + conv + "/runs/run_%00/cancel", nil, nil, "run_id"},
			{"GET", "/v1/conversations?after=conv_%00", nil, nil, "after"},
			{"GET", "/v1/conversations/" + conv + "/messages?after=%C3%28", nil, nil, "after"},
			{"POST", "/v1/conversations", `{}`, map[string]string{"Idempotency-Key": "key\xff"}, "Idempotency-Key"},
		} {
			r := e.do(c.method, c.path, tok, c.body, c.header)
			if r.status != http.StatusBadRequest || r.param(t) != c.param {
				t.Errorf("%s %s %v: %d %s, want 400 with param %q", c.method, c.path, c.body, r.status, r.body, c.param)
			}
		}
		if n := engineCalls.Load(); n != 0 {
			t.Errorf("the engine was called %d times for refused requests", n)
		}
		if got := e.messages(tok, conv); len(got) != 1 {
			t.Errorf("the conversation has %d messages, want the first one only", len(got))
		}
		r := e.do("POST", "/auth/token", "", "grant_type=password&username=a%00b&password=whatever",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if r.status != 400 || !strings.Contains(string(r.body), "invalid_request") {
			t.Errorf("password grant with a NUL username: %d %s", r.status, r.body)
		}
	})
}

// Logout, a replayed refresh token and an upgrade end a session: its
// access token, still unexpired, is refused at once (session_ended).
func TestAttackRevokedAccessTokens(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		signIn := func() (access, refresh string) {
			var tok struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			e.do("POST", "/auth/guest", "", nil, nil).decode(t, &tok)
			return tok.AccessToken, tok.RefreshToken
		}
		refused := func(what, access string) {
			t.Helper()
			if r := e.do("GET", "/v1/models", access, nil, nil); r.status != 401 || r.errorCode(t) != "session_ended" {
				t.Errorf("%s: %d %s, want 401 session_ended", what, r.status, r.body)
			}
		}
		access, refresh := signIn()
		if r := e.do("POST", "/auth/logout", "", map[string]string{"refresh_token": refresh}, nil); r.status != 204 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		refused("after logout", access)

		_, refresh = signIn()
		var next struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": refresh}, nil).decode(t, &next)
		if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": refresh}, nil); r.status != 401 {
			t.Fatalf("replayed refresh token: %d %s", r.status, r.body)
		}
		refused("the successor after a replay", next.AccessToken)
		if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken}, nil); r.status != 401 {
			t.Errorf("the successor's refresh token after a replay: %d %s", r.status, r.body)
		}

		access, _ = signIn()
		up := e.do("POST", "/auth/upgrade", access, map[string]string{"username": "erin", "email": "erin@example.com", "password": "a long passphrase 1"}, nil)
		if up.status != 200 {
			t.Fatalf("upgrade: %d %s", up.status, up.body)
		}
		refused("the guest's token after the upgrade", access)
		var fresh struct {
			AccessToken string `json:"access_token"`
		}
		up.decode(t, &fresh)
		if r := e.do("GET", "/v1/models", fresh.AccessToken, nil, nil); r.status != 200 {
			t.Errorf("the upgraded user's token: %d %s", r.status, r.body)
		}
	})
}

// A guest flood does not stay: guests that have not signed in or refreshed
// within the retention are purged with their conversations by the hourly
// housekeeping; active guests and users stay.
func TestAttackGuestFloodIsPurged(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	old := &store.User{IsGuest: true, CreatedAt: time.Now().Add(-31 * 24 * time.Hour)}
	if err := e.store.CreateUser(ctx, old); err != nil {
		t.Fatal(err)
	}
	conv := &store.Conversation{UserID: old.ID}
	if err := e.store.CreateConversation(ctx, conv, []*store.Message{{Role: "user", Content: "hi"}}); err != nil {
		t.Fatal(err)
	}
	tok := e.guest()
	mine := e.newConversation(tok, "hello")
	housekeep(ctx, e.store, 30*24*time.Hour, slog.New(slog.DiscardHandler))
	if _, err := e.store.GetUser(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the inactive guest is still there: %v", err)
	}
	if _, err := e.store.GetConversation(ctx, old.ID, conv.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the inactive guest's conversation is still there: %v", err)
	}
	if got := e.messages(tok, mine); len(got) != 1 {
		t.Errorf("an active guest lost its conversation: %+v", got)
	}
	housekeep(ctx, e.store, 0, slog.New(slog.DiscardHandler)) // 0: keep guests forever
}
