package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	version, commit, date = "v1.2.3", "abc123", "2026-12-06T00:00:00Z"
	t.Cleanup(func() { version, commit, date = "dev", "", "" })
	run := func(args ...string) string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("jan %v: %v", args, err)
		}
		return out.String()
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(run("version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v != (versionInfo{Version: "v1.2.3", Commit: "abc123", Date: "2026-12-06T00:00:00Z", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}) {
		t.Errorf("version --json = %+v", v)
	}
	if out := run("version"); !strings.Contains(out, "jan v1.2.3") || !strings.Contains(out, "commit    abc123") || !strings.Contains(out, "platform  "+runtime.GOOS) {
		t.Errorf("version:\n%s", out)
	}
	if out := run("--version"); out != "jan v1.2.3\n" {
		t.Errorf("--version = %q", out)
	}
	if out := run("completion", "bash"); !strings.Contains(out, "__start_jan") {
		t.Errorf("completion bash does not look like a bash completion: %.100q", out)
	}
}

// gen-docs writes the completions and man pages the release ships.
func TestGenDocs(t *testing.T) {
	dir := t.TempDir()
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"gen-docs", "--dir", dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"completions/jan.bash", "completions/jan.zsh", "completions/jan.fish", "completions/jan.ps1", "man/jan.1", "man/jan-serve.1", "man/jan-chat.1"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(b))
		}
	}
	if man, _ := os.ReadFile(filepath.Join(dir, "man", "jan-serve.1")); !bytes.Contains(man, []byte(".TH")) || !bytes.Contains(man, []byte("metrics")) {
		t.Errorf("jan-serve.1 is not a man page of jan serve:\n%.300s", man)
	}
	// roff, not the help text as it is: flags and hyphens escaped, no
	// character past ASCII left raw, an example kept as written.
	if man, _ := os.ReadFile(filepath.Join(dir, "man", "jan-login.1")); !bytes.Contains(man, []byte(".SH OPTIONS\n.TP\n")) ||
		!bytes.Contains(man, []byte(`\fB\-\-web\fP`)) || !bytes.Contains(man, []byte(".SH EXAMPLES\n.nf\n  jan login alice\n")) {
		t.Errorf("jan-login.1:\n%s", man)
	}
	for _, f := range []string{"jan.1", "jan-up.1", "jan-serve.1"} {
		b, _ := os.ReadFile(filepath.Join(dir, "man", f))
		for i, c := range b {
			if c > 127 {
				t.Errorf("%s: a raw non-ASCII byte at %d: %q", f, i, b[max(0, i-20):min(len(b), i+20)])
				break
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "man", "jan-gen-docs.1")); err == nil {
		t.Error("the hidden gen-docs command got a man page")
	}
}
