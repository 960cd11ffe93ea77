package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/fakeengine"
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
	return tm.waitUntil(fmt.Sprintf("%q", what), func(s string) bool {
		for _, w := range what {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

// waitUntil polls the screen until ok holds for it. A resize or a key press
// reaches the program asynchronously, so every check of what is on screen
// after one waits for the redraw rather than reading the first capture.
func (tm *tmux) waitUntil(desc string, ok func(screen string) bool) string {
	tm.t.Helper()
	return tm.waitUntilFor(desc, 15*time.Second, ok)
}

// waitUntilFor is waitUntil with its own time limit.
func (tm *tmux) waitUntilFor(desc string, limit time.Duration, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := tm.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %s; screen:\n%s", desc, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// send presses keys by tmux name.
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

	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_STATE_HOME=" + t.TempDir(), "JAN_SERVER_URL=http://" + addr, "JAN_TOKEN=", "NO_COLOR="}
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
	s = tm.waitUntil("the sidebar to fold at 60 columns", func(s string) bool {
		return strings.Contains(s, "Incomplete answer") && !strings.Contains(s, "Conversations")
	})
	for _, l := range strings.Split(s, "\n") {
		if len([]rune(l)) > 60 {
			t.Fatalf("a line is wider than the terminal: %q", l)
		}
	}
	tm.cmd("resize-window", "-t", "chat", "-x", "30", "-y", "8")
	tm.waitFor("terminal is too small")
	tm.cmd("resize-window", "-t", "chat", "-x", "100", "-y", "30")
	tm.waitFor("Conversations")

	tm.send("C-c")
	tm.waitFor("jan-exited-0")
}

// procStat is a process's CPU time (utime+stime, clock ticks) and RSS.
func procStat(t *testing.T, pid string) (ticks int64, rssKiB int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rssKiB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return ut + st, rssKiB
}

// The performance budgets of issue 5, measured on the real binary in a
// real terminal: a conversation of 1,000 messages opened with
// --conversation (first full frame, RSS), then an answer streamed at 200
// tokens/s (CPU of the jan chat process). Opt in with JAN_PERF=1; the
// figures are logged (go test -v) and written up in docs/CHAT.md.
func TestChatPerformance(t *testing.T) {
	if os.Getenv("JAN_PERF") != "1" {
		t.Skip("set JAN_PERF=1 to measure")
	}
	tm := newTmux(t)
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("JAN_RATE_LIMIT_GUEST", "off")                              // 1,000 messages are posted below
	engine := startEngine(t, "--tokens", "1000", "--token-delay", "5ms") // 200 tokens/s
	addr := freeAddr(t)
	startServe(t, addr, t.TempDir(), "--engine", engine)
	cfgDir := t.TempDir()
	getenv := func(k string) string {
		return map[string]string{"XDG_CONFIG_HOME": cfgDir, "JAN_SERVER_URL": "http://" + addr}[k]
	}
	s, err := client.OpenSession(client.SessionOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if _, err := s.EnsureToken(ctx); err != nil {
		t.Fatal(err)
	}
	conv, err := s.CreateConversation(ctx, client.ConversationParams{Title: "Long"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		role, content := "user", fmt.Sprintf("Question %d: how do I do thing %d?", i, i)
		if i%2 == 1 {
			role = "assistant"
			content = fmt.Sprintf("Answer %d. Use **the standard library**:\n\n```go\nfor i := range %d {\n\tfmt.Println(i)\n}\n```\n\nThat is all.", i, i)
		}
		if _, err := s.CreateMessage(ctx, conv.ID, client.MessageParams{Role: role, Content: content}, ""); err != nil {
			t.Fatal(err)
		}
	}

	env := "env XDG_CONFIG_HOME=" + cfgDir + " XDG_STATE_HOME=" + t.TempDir() + " JAN_SERVER_URL=http://" + addr + " JAN_TOKEN= "
	start := time.Now()
	tm.cmd("new-session", "-d", "-s", "chat", "-x", "100", "-y", "30", env+bin+" chat --conversation "+conv.ID+"; sleep 60")
	for !strings.Contains(tm.screen(), "Answer 999.") {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the conversation did not open:\n%s", tm.screen())
		}
		time.Sleep(5 * time.Millisecond)
	}
	firstFrame := time.Since(start)
	shell := strings.TrimSpace(tm.cmd("display", "-p", "-t", "chat", "#{pane_pid}"))
	children, _ := os.ReadFile("/proc/" + shell + "/task/" + shell + "/children")
	pid := strings.Fields(string(children))[0]
	_, rss := procStat(t, pid)

	tm.typeText("Stream please")
	tm.send("Enter")
	tm.waitFor("● streaming")
	t0, begin := time.Now(), time.Now()
	ticks0, _ := procStat(t, pid)
	for !strings.Contains(tm.screen(), "tok/s") {
		if time.Since(begin) > 30*time.Second {
			t.Fatalf("the answer did not finish:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ticks1, rssAfter := procStat(t, pid)
	wall := time.Since(t0)
	cpu := float64(ticks1-ticks0) / 100 / wall.Seconds()
	msgs, err := s.AllMessages(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[len(msgs)-1].Content; got != strings.Join(fakeengine.Answer(1000), "") {
		t.Fatalf("the stored answer has %d words, want 1000 tokens", len(strings.Fields(got)))
	}
	t.Logf("1,000 messages: first full frame %v after start (process start included), RSS %d MiB", firstFrame.Round(time.Millisecond), rss>>10)
	t.Logf("streaming 1,000 tokens at 200 tokens/s for %v: jan chat used %.1f%% of one core; RSS after %d MiB", wall.Round(time.Millisecond), cpu*100, rssAfter>>10)
	if cpu > 0.5 {
		t.Errorf("jan chat used %.0f%% of a core while streaming (budget 50%%)", cpu*100)
	}
	if rssAfter > 100<<10 {
		t.Errorf("RSS %d MiB (budget 100 MiB)", rssAfter>>10)
	}
}

// A day of use, in tmux (issue 15): esc while scrolled follows and the run
// completes on the server; enter in the delete dialog keeps; ctrl+c with a
// draft does not quit; the mouse wheel scrolls; a message sent while the
// server is down arrives once after it is back, with no key pressed; a
// relaunch shows the last conversation.
func TestChatDailyDriverInTmux(t *testing.T) {
	tm := newTmux(t)
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	engine := startEngine(t, "--tokens", "40", "--token-delay", "2ms")
	addr, dataDir := freeAddr(t), t.TempDir()
	serve := startServe(t, addr, dataDir, "--engine", engine)
	cfg, state := t.TempDir(), t.TempDir()
	shell := "env XDG_CONFIG_HOME=" + cfg + " XDG_STATE_HOME=" + state + " JAN_SERVER_URL=http://" + addr + " JAN_TOKEN= NO_COLOR= " +
		bin + " chat; echo jan-exited-$?; sleep 60"
	tm.cmd("new-session", "-d", "-s", "chat", "-x", "100", "-y", "30", shell)
	tm.waitFor("Conversations", "● connected")

	// A long answer streaming; scrolled up, esc follows and does not stop it.
	tm.typeText("Tell me a long story [fake:tokens=1500] [fake:delay=2ms]")
	tm.send("Enter")
	tm.waitUntil("a screenful of answer", func(s string) bool { return strings.Contains(s, "● streaming") && !strings.Contains(s, "│You") })
	tm.send("PageUp")
	tm.waitFor("esc to follow")
	tm.send("Escape")
	s := tm.waitUntil("the end of the answer", func(s string) bool { return strings.Contains(s, "tok/s") && !strings.Contains(s, "streaming") })
	if strings.Contains(s, "Stopped") || strings.Contains(s, "esc to follow") {
		t.Fatalf("esc while scrolled stopped the answer or did not follow:\n%s", s)
	}
	api := chatAPI(t, cfg, addr)
	convs, err := api.ListConversations(testCtx(t), client.ListParams{})
	if err != nil || len(convs.Data) != 1 {
		t.Fatalf("%+v %v", convs, err)
	}
	conv := convs.Data[0].ID
	if msgs, _ := api.AllMessages(testCtx(t), conv); len(msgs) != 2 || msgs[1].Status != "completed" {
		t.Fatalf("on the server: %+v", msgs)
	}

	// The wheel scrolls the transcript.
	tm.typeText("\x1b[<64;60;10M")
	tm.waitFor("esc to follow")
	tm.send("Escape")
	tm.waitUntil("following", func(s string) bool { return !strings.Contains(s, "esc to follow") })

	// Enter in the delete dialog keeps the conversation.
	tm.send("Tab")
	tm.send("C-d")
	tm.waitFor("y delete")
	tm.send("Enter")
	time.Sleep(300 * time.Millisecond)
	if s := tm.waitUntil("the dialog to close", func(s string) bool { return !strings.Contains(s, "y delete") }); !strings.Contains(s, "Tell me a long story") {
		t.Fatalf("after enter in the delete dialog:\n%s", s)
	}
	if page, _ := api.ListConversations(testCtx(t), client.ListParams{}); len(page.Data) != 1 {
		t.Fatal("enter deleted the conversation")
	}
	tm.send("Tab")

	// ctrl+c with a draft clears it instead of quitting.
	tm.typeText("a draft")
	tm.send("C-c")
	tm.waitFor("Draft cleared")
	if strings.Contains(tm.screen(), "jan-exited") {
		t.Fatal("ctrl+c with a draft quit")
	}

	// The server goes away; a message sent meanwhile waits, then arrives
	// once when it is back — no key pressed.
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = serve.Wait()
	tm.typeText("While you were away")
	tm.send("Enter")
	tm.waitFor("Not sent yet", "○ offline")
	startServe(t, addr, dataDir, "--engine", engine)
	// The chat retries by itself, backing off (2 s, 4 s, 8 s…): allow for
	// a retry that just missed the restart.
	tm.waitUntilFor("the queued message's answer", 40*time.Second, func(s string) bool {
		return strings.Contains(s, "● connected") && !strings.Contains(s, "Not sent yet") && strings.Count(s, "jan · fake-model") >= 1 && !strings.Contains(s, "streaming")
	})
	msgs, err := api.AllMessages(testCtx(t), conv)
	if err != nil || len(msgs) != 4 || msgs[2].Content != "While you were away" || msgs[3].Role != "assistant" {
		t.Fatalf("after the server came back: %d messages %v", len(msgs), err)
	}

	// Quit and relaunch: the last conversation is open.
	tm.send("C-c")
	tm.waitFor("jan-exited-0")
	// Relaunch in the same pane: killing the only session would end the
	// tmux server, and a new-session racing its exit fails ("server exited
	// unexpectedly", seen in CI).
	tm.cmd("respawn-pane", "-k", "-t", "chat", shell)
	if s := tm.screen(); strings.Contains(s, "jan-exited") {
		t.Fatalf("the respawned pane still shows the last run:\n%s", s)
	}
	tm.waitFor("While you were away", "● connected")
	tm.send("C-c")
	tm.waitFor("jan-exited-0")
}

// chatAPI is a client with the token jan chat saved in cfg.
func chatAPI(t *testing.T, cfg, addr string) *client.Client {
	t.Helper()
	s, err := client.OpenSession(client.SessionOptions{Getenv: func(k string) string {
		return map[string]string{"XDG_CONFIG_HOME": cfg, "JAN_SERVER_URL": "http://" + addr}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Client
}
