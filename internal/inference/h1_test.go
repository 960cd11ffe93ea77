package inference

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// testTransport is NewTransport's transport, counting its dials and writes.
func testTransport(t *testing.T) (tr *engineTransport, dials, writes *atomic.Int64) {
	t.Helper()
	tr = NewTransport().(*engineTransport)
	dials, writes = new(atomic.Int64), new(atomic.Int64)
	var d net.Dialer
	tr.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, writes}, nil
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr, dials, writes
}

func post(t *testing.T, tr http.RoundTripper, url, body string, header http.Header) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return tr.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return string(b)
}

// The request goes out whole in one write, and its connection serves the
// next request once the response was read to its end; a response closed
// before its end loses its connection.
func TestEngineTransportOneWriteAndReuse(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Key")+" "+r.Header.Get("Content-Length")+" "+string(b))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr, dials, writes := testTransport(t)
	body := strings.Repeat("x", 3000) // larger than a transport buffer
	for i := range 3 {
		resp, err := post(t, tr, srv.URL+"/v1/chat/completions?a=b", body, http.Header{"X-Key": {"v"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := readAll(t, resp), "POST /v1/chat/completions?a=b v 3000 "+body; got != want {
			t.Fatalf("request %d: the engine saw %.60q…, want %.60q…", i, got, want)
		}
		if w := writes.Load(); w != int64(i+1) {
			t.Errorf("after request %d: %d writes, want one a request", i, w)
		}
	}
	if d, c := dials.Load(), conns.Load(); d != 1 || c != 1 {
		t.Errorf("%d dials, %d connections for three requests; want one", d, c)
	}

	resp, err := post(t, tr, srv.URL+"/", "abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // unread
	resp, err = post(t, tr, srv.URL+"/", "abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if d := dials.Load(); d != 2 {
		t.Errorf("%d dials, want a second after a response closed unread", d)
	}
}

// postsOK sends n requests to base one after the other, pause apart, each
// wanting the answer "ok".
func postsOK(t *testing.T, tr http.RoundTripper, base string, n int, pause time.Duration) {
	t.Helper()
	for i := range n {
		resp, err := post(t, tr, base, "abc", nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("request %d: %q, want ok", i, got)
		}
		time.Sleep(pause)
	}
}

// rawServer accepts connections and hands each to serve.
func rawServer(t *testing.T, serve func(c net.Conn)) (base string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRequest reads one request with its body.
func readRequest(br *bufio.Reader) error {
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

// An engine that closed a kept-alive connection while it was idle: the
// request goes again, once, on a new connection.
func TestEngineTransportStaleConnection(t *testing.T) {
	t.Parallel()
	base := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if readRequest(br) == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		// and closes it: keep-alive as far as the client can tell
	})
	tr, dials, _ := testTransport(t)
	postsOK(t, tr, base, 3, 20*time.Millisecond) // the pause: the close reaches us
	if d := dials.Load(); d != 3 {
		t.Errorf("%d dials, want 3", d)
	}
}

// Bytes an engine sends after a response are not read as the next
// response: the connection is dropped.
func TestEngineTransportBytesAfterResponse(t *testing.T) {
	t.Parallel()
	base := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for readRequest(br) == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
		}
	})
	tr, dials, _ := testTransport(t)
	postsOK(t, tr, base, 2, 0)
	if d := dials.Load(); d != 2 {
		t.Errorf("%d dials, want 2", d)
	}
}

// A connection the engine drops after reading a request on a new
// connection is an error, not sent again: the engine may have acted on it.
func TestEngineTransportNoRetryOnNewConnection(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	base := rawServer(t, func(c net.Conn) {
		if readRequest(bufio.NewReader(c)) == nil {
			requests.Add(1)
		}
	})
	tr, _, _ := testTransport(t)
	if _, err := post(t, tr, base, "abc", nil); err == nil {
		t.Fatal("no error from a connection closed without a response")
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the engine got %d requests, want 1", n)
	}
}

// Informational responses are skipped; a response head past its bound is
// an error, not a read without end.
func TestEngineTransportResponseHeads(t *testing.T) {
	t.Parallel()
	base := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if readRequest(br) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if readRequest(br) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 2 * maxResponseHead / len(line) {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	tr, _, _ := testTransport(t)
	resp, err := post(t, tr, base, "abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || readAll(t, resp) != "ok" {
		t.Errorf("status %d after a 103", resp.StatusCode)
	}
	if _, err := post(t, tr, base, "abc", nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a 2 MB response head: %v, want an error", err)
	}
}

// A header that would end the line (and smuggle another) is refused before
// anything is sent.
func TestEngineTransportRefusesBadHeaders(t *testing.T) {
	t.Parallel()
	tr, dials, _ := testTransport(t)
	for _, h := range []http.Header{
		{"X-Key": {"v\r\nX-Admin: yes"}},
		{"X Key": {"v"}},
	} {
		if _, err := post(t, tr, "http://127.0.0.1:1/", "abc", h); err == nil {
			t.Errorf("%v: sent", h)
		}
	}
	if d := dials.Load(); d != 0 {
		t.Errorf("%d dials for refused requests", d)
	}
}

// Requests engineTransport does not send itself go to http.Transport: a
// body of unknown length (sent chunked), or a proxy.
func TestEngineTransportFallsBack(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Join(r.TransferEncoding, ","))
	}))
	t.Cleanup(srv.Close)
	tr, dials, _ := testTransport(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader("abc")))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "chunked" {
		t.Errorf("transfer encoding %q, want chunked (http.Transport)", got)
	}
	// With a proxy for the engine's URL, http.Transport sends it (through
	// its own Proxy setting: none here).
	tr.proxy = func(*http.Request) (*url.URL, error) { return &url.URL{Scheme: "http", Host: "proxy.invalid"}, nil }
	resp, err = post(t, tr, srv.URL, "abc", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if d := dials.Load(); d != 0 {
		t.Errorf("engineTransport dialled %d times", d)
	}
}

// Idle connections older than the idle timeout are closed, not reused.
func TestEngineTransportIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	tr, dials, _ := testTransport(t)
	tr.idleTimeout = 10 * time.Millisecond
	for range 2 {
		resp, err := post(t, tr, srv.URL, "abc", nil)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		time.Sleep(30 * time.Millisecond)
	}
	if d := dials.Load(); d != 2 {
		t.Errorf("%d dials, want 2: the idle connection had expired", d)
	}
}

// Cancelling the request's context while its body is read ends the read
// with the cancellation, at once, and the connection is not reused.
func TestEngineTransportCancelMidBody(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	base := rawServer(t, func(c net.Conn) {
		if readRequest(bufio.NewReader(c)) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
		_, _ = io.Copy(io.Discard, c) // until the client closes
		close(closed)
	})
	tr, _, _ := testTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base, strings.NewReader("abc"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("the engine's connection stayed open after the cancel")
	}
	resp.Body.Close()
	if n := len(tr.idle); n != 0 {
		t.Errorf("%d hosts with idle connections after a cancelled request", n)
	}
}
