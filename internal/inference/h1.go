package inference

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// engineTransport is the transport NewTransport returns. Requests to a
// plain-http engine with a body of known length (all Post sends) go out
// on its own keep-alive connections, in the calling goroutine: request
// line, headers and body in one write, the response read where it is
// consumed. http.Transport hands every request and response between the
// caller and two goroutines of its connection, and writes a body larger
// than its buffer in a system call of its own; on the full path that was
// ~10 % of jan's CPU (docs/BENCHMARKS.md). Anything else — https, a proxy,
// a body of unknown length or a large one — goes to std.
type engineTransport struct {
	std         *http.Transport
	proxy       func(*http.Request) (*url.URL, error)
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int           // idle connections kept per host
	idleTimeout time.Duration // an idle connection older than this is closed

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port, oldest first
}

// h1Conn is a keep-alive connection of engineTransport.
type h1Conn struct {
	conn   net.Conn
	head   io.LimitedReader // conn, limited while a response head is read
	br     *bufio.Reader    // reads head
	host   string
	idleAt time.Time
}

const (
	// maxOwnBody is the largest body engineTransport sends itself; larger
	// ones go to std, where one more system call does not matter.
	maxOwnBody = 256 << 10
	// maxPooledBuf is the largest request buffer kept for the next request.
	maxPooledBuf = 64 << 10
	// maxResponseHead bounds an engine's status line and headers.
	maxResponseHead = 1 << 20
)

// requestBufs holds the buffers requests are written from.
var requestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// errStale marks a failure on a kept-alive connection before any byte of
// the response: the engine had closed it while idle, so the request is
// sent again on a new one (as http.Transport does).
var errStale = errors.New("connection closed before the response began")

func (t *engineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.Body == nil || req.ContentLength <= 0 || req.ContentLength > maxOwnBody {
		return t.std.RoundTrip(req)
	}
	if u, err := t.proxy(req); err != nil || u != nil {
		return t.std.RoundTrip(req)
	}
	bp := requestBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuf {
			requestBufs.Put(bp)
		}
	}()
	buf, err := appendRequest((*bp)[:0], req)
	if err != nil {
		req.Body.Close()
		return nil, err
	}
	head := len(buf)
	buf = append(buf, make([]byte, req.ContentLength)...)
	_, err = io.ReadFull(req.Body, buf[head:])
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	*bp = buf[:0]
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	ctx := req.Context()
	fresh := false
	for {
		pc, reused, err := t.conn(ctx, host, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, pc, req, buf)
		switch {
		case err == nil:
			return resp, nil
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case reused && errors.Is(err, errStale):
			fresh = true // once, on a connection of its own
		default:
			return nil, err
		}
	}
}

// exchange writes the request (buf) on pc and reads the response's head.
// Cancelling ctx interrupts it, and later the body's reads.
func (t *engineTransport) exchange(ctx context.Context, pc *h1Conn, req *http.Request, buf []byte) (*http.Response, error) {
	// Cancelled, the connection is closed at once, as http.Transport
	// does: the engine sees the client go and stops generating.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.conn.Close()
		return nil, err
	}
	if _, err := pc.conn.Write(buf); err != nil {
		return fail(errors.Join(errStale, err))
	}
	pc.head.N = maxResponseHead
	if _, err := pc.br.Peek(1); err != nil {
		return fail(errors.Join(errStale, err))
	}
	var resp *http.Response
	for range 10 {
		var err error
		if resp, err = http.ReadResponse(pc.br, req); err != nil {
			if pc.head.N <= 0 {
				err = fmt.Errorf("the response's head is larger than %d bytes", maxResponseHead)
			}
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		resp.Body.Close() // 1xx: informational, the response follows
		resp = nil
	}
	if resp == nil {
		return fail(errors.New("too many informational responses"))
	}
	pc.head.N = math.MaxInt64
	resp.Body = &h1Body{ReadCloser: resp.Body, ctx: ctx, pc: pc, t: t, stop: stop, keep: !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	return resp, nil
}

// appendRequest appends req's request line and headers, or fails on a
// header that is not valid HTTP (which would let a value smuggle others).
func appendRequest(b []byte, req *http.Request) ([]byte, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) || !validMethod(req.Method) {
		return nil, fmt.Errorf("invalid request to %q", host)
	}
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, req.ContentLength, 10)
	if req.Close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n"...)
	for k, vs := range req.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Connection", "Transfer-Encoding":
			continue // set above, or not ours to set
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("invalid value for header %q", k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...), nil
}

func validMethod(m string) bool {
	return m != "" && httpguts.ValidHeaderFieldName(m) // a token, as RFC 9110 wants
}

// conn returns an idle connection to host (the newest, reused) or a new
// one; fresh skips the idle ones.
func (t *engineTransport) conn(ctx context.Context, host string, fresh bool) (*h1Conn, bool, error) {
	if !fresh {
		t.mu.Lock()
		t.reap(host)
		if list := t.idle[host]; len(list) > 0 {
			pc := list[len(list)-1]
			list[len(list)-1] = nil
			t.idle[host] = list[:len(list)-1]
			t.mu.Unlock()
			return pc, true, nil
		}
		t.mu.Unlock()
	}
	c, err := t.dial(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	pc := &h1Conn{conn: c, host: host}
	pc.head = io.LimitedReader{R: c, N: math.MaxInt64}
	pc.br = bufio.NewReaderSize(&pc.head, 1<<10)
	return pc, false, nil
}

// put keeps pc for the next request to its host.
func (t *engineTransport) put(pc *h1Conn) {
	pc.idleAt = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reap(pc.host)
	if len(t.idle[pc.host]) >= t.maxIdle {
		pc.conn.Close()
		return
	}
	if t.idle == nil {
		t.idle = map[string][]*h1Conn{}
	}
	t.idle[pc.host] = append(t.idle[pc.host], pc)
}

// reap closes host's connections idle for longer than idleTimeout (t.mu
// held).
func (t *engineTransport) reap(host string) {
	list := t.idle[host]
	n := 0
	for n < len(list) && time.Since(list[n].idleAt) > t.idleTimeout {
		list[n].conn.Close()
		list[n] = nil
		n++
	}
	if n > 0 {
		t.idle[host] = append(list[:0], list[n:]...)
	}
}

// CloseIdleConnections closes the idle connections, its own and std's.
func (t *engineTransport) CloseIdleConnections() {
	t.mu.Lock()
	for host, list := range t.idle {
		for _, pc := range list {
			pc.conn.Close()
		}
		delete(t.idle, host)
	}
	t.mu.Unlock()
	t.std.CloseIdleConnections()
}

// h1Body is a response body of engineTransport: read to its end and
// closed, it gives its connection back for the next request; closed
// before, or after its context was cancelled, it closes it.
type h1Body struct {
	io.ReadCloser
	ctx    context.Context
	pc     *h1Conn
	t      *engineTransport
	stop   func() bool // stops the cancellation; false if it has run
	keep   bool        // the response allows another on its connection
	eof    bool
	closed bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.ctx.Err() != nil:
		err = context.Cause(b.ctx) // what broke the read: the request's end
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	// Bytes after the response's end are not the start of the next one:
	// such a connection is dropped.
	if b.stop() && b.eof && b.keep && b.pc.br.Buffered() == 0 {
		b.t.put(b.pc)
		return nil
	}
	return b.pc.conn.Close()
}
