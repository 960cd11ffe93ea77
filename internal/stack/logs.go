package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lines reads Tail: "all" (or "") is every line (all true); otherwise a
// whole number of lines from the end.
func (o LogOptions) Lines() (n int, all bool, err error) {
	if o.Tail == "" || o.Tail == "all" {
		return 0, true, nil
	}
	n, err = strconv.Atoi(o.Tail)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("--tail %q: want a number of lines or all", o.Tail)
	}
	return n, false, nil
}

// ServerLog prints the server's log file at path: the last Tail lines (with
// Since, the JSON lines written since then), then, with Follow, what is
// appended until ctx ends.
func ServerLog(ctx context.Context, path string, opts LogOptions, w io.Writer) error {
	n, all, err := opts.Lines()
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("no server log at %s yet (jan up writes it)", path)
		}
		return err
	}
	defer f.Close()
	var since time.Time
	if d, err := time.ParseDuration(opts.Since); err == nil {
		since = time.Now().Add(-d)
	} else if t, err := time.Parse(time.RFC3339, opts.Since); err == nil {
		since = t
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !since.IsZero() && logLineBefore(sc.Text(), since) {
			continue
		}
		lines = append(lines, sc.Text())
	}
	if !all && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if !opts.Follow {
		return nil
	}
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err == nil {
			fmt.Fprint(w, partial)
			partial = ""
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logLineBefore reads a JSON log line's "time" and says if it is before t.
func logLineBefore(line string, t time.Time) bool {
	var rec struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Time.IsZero() {
		return false
	}
	return rec.Time.Before(t)
}

// LogSource is one service's output for FanIn: Copy writes it to w.
type LogSource struct {
	Name string
	Copy func(ctx context.Context, w io.Writer) error
}

// FanIn copies every source to w at once, each line prefixed with its
// source's name (padded to one width) and written whole: lines of two
// sources never interleave. It returns the first error.
func FanIn(ctx context.Context, sources []LogSource, w io.Writer) error {
	width := 0
	for _, s := range sources {
		width = max(width, len(s.Name))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(sources))
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := &prefixWriter{mu: &mu, w: w, prefix: fmt.Sprintf("%-*s | ", width, s.Name)}
			if err := s.Copy(ctx, pw); err != nil {
				errs <- err
			}
			pw.flush()
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// AllLogs is FanIn over every service of the stack and the server's log.
func (s *Stack) AllLogs(ctx context.Context, server, serverLog string, opts LogOptions, w io.Writer) error {
	if _, _, err := opts.Lines(); err != nil {
		return err
	}
	services, err := s.Status(ctx)
	if err != nil {
		return err
	}
	sources := make([]LogSource, 0, len(services)+1)
	for _, svc := range services {
		sources = append(sources, LogSource{Name: svc.Service, Copy: func(ctx context.Context, w io.Writer) error {
			return s.Logs(ctx, svc.Service, opts, w, w)
		}})
	}
	sources = append(sources, LogSource{Name: server, Copy: func(ctx context.Context, w io.Writer) error {
		_ = ServerLog(ctx, serverLog, opts, w) // no server log yet is not a failure of the others
		return nil
	}})
	return FanIn(ctx, sources, w)
}

// prefixWriter writes whole lines, each with a prefix, under a shared lock.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.mu.Unlock()
		p.buf = nil
	}
}
