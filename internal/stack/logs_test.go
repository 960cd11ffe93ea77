package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sources writing partial lines at once come out as whole lines, each
// with its source's padded name, in each source's own order.
func TestFanIn(t *testing.T) {
	var out bytes.Buffer
	source := func(name string, n int) LogSource {
		return LogSource{Name: name, Copy: func(ctx context.Context, w io.Writer) error {
			for i := 0; i < n; i++ {
				fmt.Fprintf(w, "%s line ", name)
				time.Sleep(time.Millisecond)
				fmt.Fprintf(w, "%d\n", i)
			}
			fmt.Fprint(w, "no newline at the end")
			return nil
		}}
	}
	if err := FanIn(context.Background(), []LogSource{source("kong", 20), source("api-db", 20)}, &out); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		name, text, ok := strings.Cut(line, " | ")
		if !ok || len(name) != len("api-db") {
			t.Fatalf("line %q: no padded prefix", line)
		}
		name = strings.TrimSpace(name)
		if text == "no newline at the end" {
			continue
		}
		if want := fmt.Sprintf("%s line %d", name, next[name]); text != want {
			t.Fatalf("line %q: want %q (lines interleaved or reordered)", line, want)
		}
		next[name]++
	}
	if next["kong"] != 20 || next["api-db"] != 20 {
		t.Fatalf("lines per source: %v", next)
	}
	if err := FanIn(context.Background(), []LogSource{{Name: "x", Copy: func(context.Context, io.Writer) error { return fmt.Errorf("boom") }}}, io.Discard); err == nil {
		t.Error("a source's error is lost")
	}
}

func TestServerLogTailAndSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	recent := time.Now().UTC().Format(time.RFC3339Nano)
	os.WriteFile(path, []byte(`{"time":"`+old+`","msg":"old"}
{"time":"`+recent+`","msg":"one"}
plain text line
{"time":"`+recent+`","msg":"two"}
`), 0o600)
	read := func(opts LogOptions) string {
		var b bytes.Buffer
		if err := ServerLog(context.Background(), path, opts, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got := read(LogOptions{Tail: "2"}); !strings.Contains(got, "plain text line") || !strings.Contains(got, `"two"`) || strings.Contains(got, `"one"`) {
		t.Errorf("--tail 2:\n%s", got)
	}
	if got := read(LogOptions{Tail: "all", Since: "10m"}); strings.Contains(got, `"old"`) || !strings.Contains(got, `"one"`) {
		t.Errorf("--since 10m:\n%s", got)
	}
	if got := read(LogOptions{}); strings.Count(got, "\n") != 4 {
		t.Errorf("everything:\n%s", got)
	}
	for _, bad := range []string{"-1", "ten", "8080x"} {
		if err := ServerLog(context.Background(), path, LogOptions{Tail: bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "--tail") {
			t.Errorf("--tail %q: %v", bad, err)
		}
	}
	if got := read(LogOptions{Tail: "99999"}); strings.Count(got, "\n") != 4 {
		t.Errorf("a count above 65535 is a count, not a port:\n%s", got)
	}
	if err := ServerLog(context.Background(), path+".missing", LogOptions{}, io.Discard); err == nil || !strings.Contains(err.Error(), "jan up writes it") {
		t.Errorf("missing log: %v", err)
	}
}
