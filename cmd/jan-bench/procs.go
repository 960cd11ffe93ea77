package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchModel is the model the fake engine serves and every request names.
const benchModel = "bench-model"

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux this runs on.
const clockTicks = 100

// proc is a child process: the engine, the floor or jan. Its output is kept
// (the tail of it) to explain a failed start.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *tail
	exited chan struct{}
}

func startProc(name, bin string, args, env []string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &tail{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: a terminal's Ctrl+C reaches only jan-bench, which
	// kills the children itself; Pdeathsig kills them if jan-bench dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop kills the process and waits for it; safe to call twice.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}

// rssKB is the resident set size (VmRSS) in KiB.
func (p *proc) rssKB() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no VmRSS in /proc/%d/status", p.name, p.pid())
}

// cpu is the user+system CPU time the process has used so far.
func (p *proc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected /proc/%d/stat", p.name, p.pid())
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// waitHTTP polls url until it answers 200, the process exits or the timeout.
func (p *proc) waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if res, err := hc.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start-up:\n%s", p.name, p.out)
		case <-ctx.Done():
			if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("%s did not answer %s within %s:\n%s", p.name, url, timeout, p.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail is an io.Writer keeping the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// stack is the three processes under test and their base URLs.
type stack struct {
	dir, bin            string
	engine, floor, jan  *proc
	engineURL, floorURL string
	janURL              string
}

// janEnv is the environment of jan serve under test. The limiters stay on
// (their cost is measured) with limits no benchmark client reaches; every
// other protection is at its default.
var janEnv = []string{"LOG_LEVEL=warn",
	"JAN_RATE_LIMIT_GUEST=100000000:100000000:100000", "JAN_RATE_LIMIT_USER=100000000:100000000:100000",
	"JAN_RATE_LIMIT_AUTH=100000000:100000000"}

// startStack builds jan (unless janBin names a binary) and starts the engine, the floor and jan, each
// ready to serve. On error everything started is stopped.
func startStack(ctx context.Context, janBin string, logw io.Writer) (s *stack, err error) {
	dir, err := os.MkdirTemp("", "jan-bench-")
	if err != nil {
		return nil, err
	}
	s = &stack{dir: dir}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	bin := janBin
	if bin == "" {
		fmt.Fprintln(logw, "building jan…")
		bin = filepath.Join(dir, "jan")
		// As releases are built (goreleaser.yaml): a static binary, which
		// maps no C library — the one users run.
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/janhq/jan/cmd/jan")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build jan: %w\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	addrs, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	s.engineURL, s.floorURL, s.janURL = "http://"+addrs[0], "http://"+addrs[1], "http://"+addrs[2]

	fmt.Fprintf(logw, "starting the fake engine on %s, the floor on %s, jan on %s…\n", addrs[0], addrs[1], addrs[2])
	if s.engine, err = startProc("fake engine", bin, []string{"dev", "fake-engine", "--addr", addrs[0], "--model", benchModel}, nil); err != nil {
		return nil, err
	}
	if err := s.engine.waitHTTP(ctx, s.engineURL+"/v1/models", 20*time.Second); err != nil {
		return nil, err
	}
	if s.floor, err = startProc("floor", self, []string{"-role", "floor", "-upstream", s.engineURL, "-addr", addrs[1]}, nil); err != nil {
		return nil, err
	}
	if err := s.floor.waitHTTP(ctx, s.floorURL+"/v1/models", 20*time.Second); err != nil {
		return nil, err
	}
	s.bin = bin
	s.jan, err = startProc("jan", bin, []string{"serve", "--addr", addrs[2], "--data-dir", filepath.Join(dir, "data"),
		"--no-detect", "--engine", s.engineURL}, janEnv)
	if err != nil {
		return nil, err
	}
	if err := s.jan.waitHTTP(ctx, s.janURL+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// explain adds to err what the processes printed, which often says why.
func (s *stack) explain(err error) error {
	var b strings.Builder
	for _, p := range []*proc{s.engine, s.floor, s.jan} {
		if out := p.out.String(); strings.TrimSpace(out) != "" {
			fmt.Fprintf(&b, "\n--- %s output (tail) ---\n%s", p.name, out[max(0, len(out)-2000):])
		}
	}
	if b.Len() == 0 {
		return err
	}
	return fmt.Errorf("%w%s", err, b.String())
}

func (s *stack) close() {
	s.jan.stop()
	s.floor.stop()
	s.engine.stop()
	os.RemoveAll(s.dir)
}

// freeAddrs returns n loopback addresses with free ports.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// runRole runs a helper process: `-role floor -upstream URL -addr ADDR` is
// the floor, a bare reverse proxy with a keep-alive pool as large as jan's.
func runRole(args []string) int {
	fs := flag.NewFlagSet("jan-bench -role", flag.ContinueOnError)
	role := fs.String("role", "", "floor")
	upstream := fs.String("upstream", "", "engine base URL")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *role != "floor" {
		fmt.Fprintf(os.Stderr, "jan-bench: unknown role %q\n", *role)
		return 2
	}
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		fmt.Fprintf(os.Stderr, "jan-bench: bad -upstream %q\n", *upstream)
		return 2
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second, DisableCompression: true},
		ErrorLog:  log.New(os.Stderr, "floor: ", 0),
	}
	// Full duplex: otherwise the server drains and closes the request body
	// as the engine's response headers are written, while the transport may
	// still be reading it to EOF, and the transport then drops the upstream
	// connection mid-stream (golang/go#40747). jan buffers the body first.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	return 0
}
