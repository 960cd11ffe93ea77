package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestServeStartsWithoutTheChatRenderer: jan serve's start-up runs none of
// the chat's Markdown and highlighting set-up (issue 17). The packages'
// initialisers are read from the Go runtime's own trace
// (GODEBUG=inittrace=1): chroma's lexer and style registries and
// bluemonday, which parse hundreds of definitions when a program starts,
// are not in the binary, the lazily built lexer registry that replaces them
// builds nothing, and all initialisers together stay within a budget that
// the old set-up alone (6 MB) would break.
func TestServeStartsWithoutTheChatRenderer(t *testing.T) {
	addr := freeAddr(t)
	cmd := startServeEnv(t, addr, t.TempDir(), []string{"GODEBUG=inittrace=1"})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	out := cmd.Stdout.(*bytes.Buffer).String()

	const budget = 6 << 20 // bytes allocated by all initialisers
	var total int64
	inits := map[string]int64{} // package → bytes its initialiser allocated
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// init PKG @T ms, D ms clock, B bytes, N allocs
		f := strings.Fields(sc.Text())
		if len(f) < 11 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		n, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil {
			t.Fatalf("init trace line %q: %v", sc.Text(), err)
		}
		inits[f[1]] = n
		total += n
	}
	if len(inits) < 50 {
		t.Fatalf("only %d initialisers traced; output:\n%.2000s", len(inits), out)
	}
	for _, pkg := range []string{
		"github.com/alecthomas/chroma/v2/lexers",
		"github.com/alecthomas/chroma/v2/styles",
		"github.com/microcosm-cc/bluemonday",
		"charm.land/glamour/v2/ansi",
	} {
		if _, ok := inits[pkg]; ok {
			t.Errorf("%s is initialised at start-up", pkg)
		}
	}
	if n := inits["github.com/janhq/jan/internal/third_party/chroma/lexers"]; n > 16<<10 {
		t.Errorf("the lazy lexer registry allocated %d bytes at start-up: it was built", n)
	}
	t.Logf("%d initialisers allocated %d bytes", len(inits), total)
	if total > budget {
		t.Errorf("initialisers allocated %d bytes at start-up, over the %d budget", total, budget)
	}
}

// A started jan serve keeps little of its binary mapped (issue 17): the
// pages every package initialiser touched are given back once it serves
// (internal/memtrim), so what stays resident is what serving uses, not
// most of the binary (≈80 % of its code was resident before).
func TestServeGivesBackStartupPages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	addr := freeAddr(t)
	cmd := startServeEnv(t, addr, t.TempDir(), nil)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	if res, err := http.Get("http://" + addr + "/v1/models"); err == nil { // a request served: its code maps back
		res.Body.Close()
	}
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var size, rss int64
	var inCode bool
	for line := range strings.Lines(string(smaps)) {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			inCode = f[1] == "r-xp" && strings.HasSuffix(f[5], "/jan")
			continue
		}
		if !inCode || len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Size:":
			size += n
		case "Rss:":
			rss += n
		}
	}
	t.Logf("jan serve's code: %d of %d kB resident", rss, size)
	if size == 0 || rss > size/2 {
		t.Errorf("jan serve's code: %d of %d kB resident, want under half", rss, size)
	}
}
