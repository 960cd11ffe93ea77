package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// server is one listener of a stand-in and what it serves.
type server struct {
	ln      net.Listener
	handler http.Handler
}

// listen opens addr now, so a port that is taken fails the start with the
// address in the message rather than a later request.
func listen(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", what, addr, err)
	}
	return ln, nil
}

// serveAll serves every server until ctx ends (then shuts them down,
// letting requests in flight finish for a few seconds) or one fails.
func serveAll(ctx context.Context, servers ...server) error {
	errs := make(chan error, len(servers))
	hs := make([]*http.Server, len(servers))
	for i, s := range servers {
		hs[i] = &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second}
		go func() { errs <- hs[i].Serve(s.ln) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, h := range hs {
		_ = h.Shutdown(shutdown)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// recorder remembers a response's status and size for the access log and
// runs beforeHeader (Kong's header_filter phase) just before the status
// line goes out, whoever writes it. Flush and Unwrap keep streaming intact.
type recorder struct {
	http.ResponseWriter
	beforeHeader func(http.Header)
	status       int
	bytes        int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx are not the response's status
		if r.beforeHeader != nil {
			r.beforeHeader(r.ResponseWriter.Header())
		}
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// code is the status sent: net/http's implicit 200 when the handler wrote
// nothing, 499 (nginx's) when the client went away first.
func (r *recorder) code(req *http.Request) int {
	switch {
	case r.status != 0:
		return r.status
	case req.Context().Err() != nil:
		return 499
	}
	return http.StatusOK
}
