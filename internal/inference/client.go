package inference

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DefaultHeaderTimeout is how long the client waits for an upstream's
// response headers, which engines send with the first token (streaming)
// or the whole answer (non-streaming).
const DefaultHeaderTimeout = 120 * time.Second

// errorBodyTimeout bounds reading the body of a non-2xx response.
const errorBodyTimeout = 10 * time.Second

// ClientOptions configures a Client; the zero value is ready to use.
type ClientOptions struct {
	// HeaderTimeout is the time to the first response byte; 0 → 120s. It
	// does not limit how long a streamed answer takes once it has started.
	HeaderTimeout time.Duration
	// Transport nil → a transport tuned for many concurrent streams to few
	// hosts (see NewTransport).
	Transport http.RoundTripper
}

// Client sends requests to providers. It is safe for concurrent use and
// meant to be shared: it holds the keep-alive connection pool.
type Client struct {
	hc            *http.Client
	headerTimeout time.Duration
}

// NewClient returns a Client.
func NewClient(o ClientOptions) *Client {
	rt := o.Transport
	if rt == nil {
		rt = NewTransport()
	}
	return &Client{
		hc: &http.Client{
			Transport: rt,
			// A redirected POST would be replayed as a GET; better to say
			// so (statusError) than to follow it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		headerTimeout: cmp.Or(o.HeaderTimeout, DefaultHeaderTimeout),
	}
}

// NewTransport returns the transport NewClient uses by default: keep-alive
// pools large enough that hundreds of concurrent streams to one engine do
// not churn connections, HTTP/1.1 only (what local engines speak), and no
// transparent gzip, which would delay streamed events. Engine requests to
// plain-http engines take engineTransport's shorter way (h1.go).
func NewTransport() http.RoundTripper {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &engineTransport{
		std:         newStdTransport(dialer),
		proxy:       http.ProxyFromEnvironment, // never applied to localhost
		dial:        dialer.DialContext,
		maxIdle:     maxIdlePerHost,
		idleTimeout: idleConnTimeout,
	}
}

const (
	maxIdlePerHost  = 512
	idleConnTimeout = 90 * time.Second
)

func newStdTransport(dialer *net.Dialer) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		// Each connection keeps a read and a write buffer for as long as
		// it lives, and a stream holds its connection: 1 KiB each instead
		// of 4 KiB saves 6 KiB per open stream (docs/BENCHMARKS.md). Reads
		// and writes larger than the buffer bypass it, so request bodies
		// and streamed events cost no more system calls.
		ReadBufferSize:  1 << 10,
		WriteBufferSize: 1 << 10,
	}
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Post sends body to route.Provider at path ("/chat/completions",
// "/completions") with the body's top-level "model" set to
// route.ServedName and every other byte untouched, plus the provider's
// headers. body must be valid JSON — the caller has decoded it — and a JSON
// object, which is all Post checks. On a 2xx it returns the response: the
// caller reads and closes the body, which streams incrementally (see
// Complete). Otherwise it returns an *Error (see Error for the
// classification) and has closed the body.
//
// Cancelling ctx aborts the upstream request at any point, including while
// the body is being read: pass the incoming request's context so a client
// that goes away stops generation.
func (c *Client) Post(ctx context.Context, route Route, path string, body []byte) (*http.Response, error) {
	p := route.Provider
	if p == nil {
		return nil, &Error{Status: http.StatusInternalServerError, Code: "internal_error",
			Message: "model " + route.PublicID + " has no provider", Err: errors.New("route without provider")}
	}
	if route.ServedName != "" {
		var err error
		if body, err = setModel(body, route.ServedName); err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Code: CodeBadRequest,
				Message: "the request body must be a JSON object", Provider: p.Name, Err: err}
		}
	}
	return c.do(ctx, p, providerLabel(p.Name), func(ctx context.Context) (*http.Request, error) {
		req, err := p.newRequest(ctx, http.MethodPost, path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		return req, nil
	})
}

// do sends req and classifies the outcome; who names the provider in
// messages. On success the response body, when closed, also releases the
// request's context.
//
// build makes the request with the context it is given (the request's own,
// cancelled on a header timeout): made with it rather than re-made with
// WithContext, which would copy the request, kept by a stream as long as
// it lasts.
func (c *Client) do(ctx context.Context, p *Provider, who string, build func(context.Context) (*http.Request, error)) (*http.Response, error) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := build(reqCtx)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	timer := time.AfterFunc(c.headerTimeout, func() { cancel(errHeaderTimeout) })
	resp, err := c.hc.Do(req)
	if !timer.Stop() && err == nil {
		// The timer fired as the headers arrived: the body is already
		// cancelled, so this is a timeout after all.
		resp.Body.Close()
		err = errHeaderTimeout
	}
	if err != nil {
		e := transportError(ctx, reqCtx, p, who, err)
		cancel(nil)
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t := time.AfterFunc(errorBodyTimeout, func() { cancel(errors.New("reading error body")) })
		e := statusError(p, who, resp)
		t.Stop()
		resp.Body.Close()
		cancel(nil)
		return nil, e
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "text/html" {
		// A web UI at base_url answers every path with its index page.
		resp.Body.Close()
		cancel(nil)
		return nil, badResponse(p.Name, "answered with an HTML page instead of the OpenAI API; check its base_url",
			fmt.Errorf("%s %s: Content-Type %s", req.Method, redactedURL(req.URL), ct))
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// newRequest builds a request to path on p with p's headers.
func (p *Provider) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.URL(path), body)
	if err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Code: CodeUnreachable,
			Message: providerLabel(p.Name) + " has an invalid base_url", Provider: p.Name, Err: err}
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "jan")
	}
	return req, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel   context.CancelCauseFunc
	complete bool // the answer was read to its end (Complete): drain before closing
}

func (b *cancelOnClose) Close() error {
	if b.complete {
		b.complete = false
		b.drain()
	}
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// What Close reads after a complete answer, at most.
const (
	drainWait  = 50 * time.Millisecond
	drainBytes = 4 << 10
)

var errDrainTimeout = errors.New("the engine did not end its response after the answer")

// drain reads what follows a complete answer: from an engine that behaves,
// nothing but the end of the chunked encoding, already here or a few
// microseconds behind the last event. An engine that sends more, or holds
// the response open, has its connection closed as before.
func (b *cancelOnClose) drain() {
	t := time.AfterFunc(drainWait, func() { b.cancel(errDrainTimeout) })
	_, _ = io.Copy(io.Discard, io.LimitReader(b.ReadCloser, drainBytes))
	t.Stop()
}

// Complete tells a response body from Post that its answer was read to the
// end — a stream's [DONE] — so that closing it first reads what is left
// (briefly, bounded). The transport puts a connection back in its pool only
// once its response was read to the end; closed before, the connection is
// dropped and the next request dials a new one: a connect, and the
// engine's accept, on the way to that request's first token. Call it once
// the answer is in, and close the body after the client has its end.
func Complete(body io.Reader) {
	if b, ok := body.(*cancelOnClose); ok {
		b.complete = true
	}
}

// redactedURL is u without credentials or query, for error causes.
func redactedURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment = nil, "", ""
	return v.String()
}
