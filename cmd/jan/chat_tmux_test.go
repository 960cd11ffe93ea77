package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmux drives the real binary in a real terminal (a tmux pane on a
// private socket).
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is required in CI for the end-to-end chat test (apt-get install tmux)")
		}
		t.Skip("tmux not installed")
	}
	tm := &tmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmux) cmd(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (tm *tmux) screen() string { return tm.cmd("capture-pane", "-p", "-t", "chat") }

// waitFor waits until every string is on screen.
func (tm *tmux) waitFor(what ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := tm.screen()
		ok := true
		for _, w := range what {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %q; screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tm *tmux) send(keys ...string) { tm.cmd(append([]string{"send-keys", "-t", "chat"}, keys...)...) }

// typeText sends text literally (no key-name lookup).
func (tm *tmux) typeText(s string) { tm.cmd("send-keys", "-t", "chat", "-l", s) }

// startEngine runs `jan dev fake-engine` and waits until it accepts.
func startEngine(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"dev", "fake-engine", "--addr", addr}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
	}
	t.Fatalf("fake engine did not start:\n%s", out.String())
	return ""
}

// The chat end to end in a 100×30 terminal against `jan serve` and the
// fake engine: a streamed answer, an answer stopped with esc and kept, a
// second conversation, switching back, a resize, quitting.
func TestChatInTmux(t *testing.T) {
	tm := newTmux(t)
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	engine := startEngine(t, "--tokens", "12", "--token-delay", "5ms")
	addr := freeAddr(t)
	startServe(t, addr, t.TempDir(), "--engine", engine)

	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "JAN_SERVER_URL=http://" + addr, "JAN_TOKEN=", "NO_COLOR="}
	shell := "env " + strings.Join(env, " ") + " " + bin + " chat; echo jan-exited-$?; sleep 60"
	tm.cmd("new-session", "-d", "-s", "chat", "-x", "100", "-y", "30", shell)
	tm.waitFor("Conversations", "Ask anything.", "● connected", "No saved token: signed in as a new guest")

	// A prompt and its whole answer.
	tm.typeText("Hello there")
	tm.send("Enter")
	s := tm.waitFor("tok/s", "jan · fake-model")
	if !strings.Contains(s, "Hello from the fake engine. Hello from the fake engine.") || strings.Contains(s, "streaming") {
		t.Fatalf("the full answer is not on screen:\n%s", s)
	}

	// A slow one, stopped with esc: the partial answer stays.
	tm.typeText("Tell me more [fake:tokens=600] [fake:delay=15ms]")
	tm.send("Enter")
	tm.waitFor("● streaming")
	time.Sleep(300 * time.Millisecond)
	tm.send("Escape")
	s = tm.waitFor("Stopped: the partial answer is kept.", "● connected")
	if strings.Count(s, "Hello") < 3 {
		t.Fatalf("the partial answer is not kept:\n%s", s)
	}

	// A new conversation, then back to the first one.
	tm.send("C-n")
	tm.waitFor("New conversation")
	tm.typeText("Another topic")
	tm.send("Enter")
	tm.waitFor("▸ Another topic")
	tm.waitFor("● connected")
	tm.send("Tab")
	tm.send("Down")
	tm.send("Enter")
	// Loaded from the server, the stopped answer is marked incomplete.
	s = tm.waitFor("Incomplete answer", "▸ Hello there")
	if strings.Contains(s, "│ Another topic") {
		t.Fatalf("still on the second conversation:\n%s", s)
	}

	// Narrower: the sidebar folds away, the transcript stays.
	tm.cmd("resize-window", "-t", "chat", "-x", "60", "-y", "20")
	s = tm.waitFor("Incomplete answer")
	if strings.Contains(s, "Conversations") {
		t.Fatalf("the sidebar did not fold at 60 columns:\n%s", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if len([]rune(l)) > 60 {
			t.Fatalf("a line is wider than the terminal: %q", l)
		}
	}
	tm.cmd("resize-window", "-t", "chat", "-x", "30", "-y", "8")
	tm.waitFor("needs a terminal")
	tm.cmd("resize-window", "-t", "chat", "-x", "100", "-y", "30")
	tm.waitFor("Conversations")

	tm.send("C-c")
	tm.waitFor("jan-exited-0")
}
