package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/janhq/jan/internal/client"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// clock is a settable clock for the status line's figures.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// newTest returns a chat model of w×h whose I/O commands are never run:
// tests feed it the messages those commands would produce.
func newTest(t *testing.T, w, h int) (*Model, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	m := New(Options{Server: "http://127.0.0.1:8080", Now: clk.now, Getenv: func(string) string { return "" }})
	t.Cleanup(m.shutdown)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m, clk
}

// screen is the view as a person sees it: ANSI stripped, no trailing blanks.
func screen(m *Model) string {
	lines := strings.Split(ansi.Strip(m.View().Content), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/tui -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", t.Name(), path, got, want)
	}
}

func key(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	}
	if c, ok := strings.CutPrefix(s, "ctrl+"); ok {
		return tea.KeyPressMsg{Code: rune(c[0]), Mod: tea.ModCtrl}
	}
	if c, ok := strings.CutPrefix(s, "alt+"); ok {
		return tea.KeyPressMsg{Code: rune(c[0]), Mod: tea.ModAlt}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

func press(m *Model, keys ...string) {
	for _, k := range keys {
		m.Update(key(k))
	}
}

func typeText(m *Model, s string) {
	for _, r := range s {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func convs(titles ...string) *client.Page[client.Conversation] {
	p := &client.Page[client.Conversation]{}
	for i, title := range titles {
		p.Data = append(p.Data, client.Conversation{ID: "conv_" + string(rune('a'+i)), Title: title, CreatedAt: t0.Unix()})
	}
	return p
}

var testModels = []client.Model{
	{ID: "fake-model", OwnedBy: "fake"},
	{ID: "qwen3-4b", OwnedBy: "vllm-local"},
	{ID: "llama-3.1-8b", OwnedBy: "ollama"},
}

// loaded is a chat with its conversations and models in.
func loaded(t *testing.T, w, h int, titles ...string) (*Model, *clock) {
	m, clk := newTest(t, w, h)
	m.Update(conversationsMsg{page: convs(titles...), params: client.ListParams{Limit: pageSize}, reset: true})
	m.Update(modelsMsg{models: append([]client.Model(nil), testModels...)})
	return m, clk
}

var history = []client.Message{
	{ID: "msg_1", Role: "user", Content: "How do I reverse a list in Go?", Status: "completed"},
	{ID: "msg_2", Role: "assistant", Model: "fake-model", Status: "completed",
		Content: "Use `slices.Reverse`:\n\n```go\ns := []int{1, 2, 3}\nslices.Reverse(s)\n```\n\nIt works **in place**."},
}

func open(m *Model, id, title string, msgs []client.Message) {
	m.opening = id
	m.Update(openedMsg{conv: &client.Conversation{ID: id, Title: title, Model: "fake-model"}, messages: msgs})
}

func TestGoldenEmpty(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	golden(t, "empty", screen(m))
}

func TestGoldenSidebar(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Reverse a list in Go", "Trip to Lisbon", "SQL window functions", "Birthday poem", "Rust lifetimes")
	open(m, "conv_a", "Reverse a list in Go", history)
	press(m, "tab", "down", "down")
	golden(t, "sidebar", screen(m))

	// Typing filters; the cursor stays on a match.
	typeText(m, "li")
	golden(t, "sidebar_filtered", screen(m))
	if c, ok := m.side.selected(); !ok || c.Title != "Reverse a list in Go" {
		t.Fatalf("selected %+v after filtering", c)
	}
}

// stream starts an answer to prompt and feeds it the first tokens.
func stream(t *testing.T, m *Model, clk *clock, prompt string) {
	t.Helper()
	typeText(m, prompt)
	press(m, "enter")
	if !m.streaming {
		t.Fatal("enter did not send")
	}
	m.Update(sentMsg{convID: "conv_a", runID: "run_1"})
	m.Update(streamRunMsg{id: m.streamID, run: &client.Run{ID: "run_1", Status: "in_progress", Model: "fake-model"}})
	m.Update(streamBatchMsg{id: m.streamID, text: "Here is a **haiku**:\n\n", deltas: 4, first: clk.t.Add(250 * time.Millisecond)})
	m.Update(streamBatchMsg{id: m.streamID, text: "Tokens drift like snow", deltas: 4})
}

func TestGoldenStreaming(t *testing.T) {
	m, clk := loaded(t, 100, 30, "Reverse a list in Go")
	open(m, "conv_a", "Reverse a list in Go", history)
	stream(t, m, clk, "Write a haiku about tokens")
	golden(t, "streaming_midway", screen(m))

	m.Update(streamBatchMsg{id: m.streamID, text: "\nthe model hums in silence\nanswers bloom in time", deltas: 8})
	final := "Here is a **haiku**:\n\nTokens drift like snow\nthe model hums in silence\nanswers bloom in time"
	clk.t = clk.t.Add(1250 * time.Millisecond)
	m.Update(streamRunMsg{id: m.streamID, run: &client.Run{ID: "run_1", Status: "completed", Model: "fake-model",
		Message: &client.Message{ID: "msg_4", Role: "assistant", Content: final}, Usage: &client.Usage{CompletionTokens: 16}}})
	m.Update(streamEndMsg{id: m.streamID})
	if m.streaming {
		t.Fatal("still streaming after the end")
	}
	golden(t, "streaming_finished", screen(m))
	if got := m.tr.lastAnswer(); got != final {
		t.Fatalf("last answer %q", got)
	}
}

func TestGoldenStoppedAndCut(t *testing.T) {
	m, clk := loaded(t, 100, 30, "Reverse a list in Go")
	open(m, "conv_a", "Reverse a list in Go", nil)
	stream(t, m, clk, "Write a haiku")
	press(m, "esc")
	if !m.stopping {
		t.Fatal("esc did not ask to stop")
	}
	m.Update(streamRunMsg{id: m.streamID, run: &client.Run{ID: "run_1", Status: "incomplete", Model: "fake-model",
		Message: &client.Message{Content: "Here is a **haiku**:\n\nTokens drift like snow"}}})
	m.Update(streamEndMsg{id: m.streamID})
	stream(t, m, clk, "Again")
	m.Update(streamEndMsg{id: m.streamID, err: client.ErrStreamCut})
	golden(t, "stopped_and_cut", screen(m))
}

func TestGoldenModelPicker(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Reverse a list in Go")
	press(m, "ctrl+l", "down")
	golden(t, "model_picker", screen(m))
	press(m, "enter")
	if got, _ := m.currentModel(); got != "qwen3-4b" {
		t.Fatalf("model %q after picking", got)
	}
}

func TestGoldenHelp(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	press(m, "?")
	golden(t, "help", screen(m))
	press(m, "x")
	if m.overlay != overlayNone {
		t.Fatal("a key did not close the help")
	}
	// With text in the input, ? is just a character.
	typeText(m, "why?")
	if m.overlay != overlayNone || m.input.Value() != "why?" {
		t.Fatalf("overlay %v, input %q", m.overlay, m.input.Value())
	}
}

func TestGoldenErrorBanner(t *testing.T) {
	m, _ := newTest(t, 100, 30)
	unreachable := &client.UnreachableError{URL: "http://127.0.0.1:8080", Err: errString("dial tcp 127.0.0.1:8080: connect: connection refused")}
	m.Update(conversationsMsg{err: unreachable, reset: true})
	// What was typed waits in the transcript for the server.
	typeText(m, "Are you there?")
	press(m, "enter")
	m.Update(sentMsg{err: unreachable})
	if m.pend == nil || !m.pend.queued || len(m.tr.entries) != 1 {
		t.Fatalf("not queued after a failed send: %+v", m.pend)
	}
	golden(t, "error_banner", screen(m))
}

type errString string

func (e errString) Error() string { return string(e) }

func TestGoldenNarrow(t *testing.T) {
	m, _ := loaded(t, 60, 20, "Reverse a list in Go", "Trip to Lisbon")
	open(m, "conv_a", "Reverse a list in Go", history)
	golden(t, "narrow", screen(m))
	press(m, "tab")
	golden(t, "narrow_sidebar", screen(m))
}

func TestGoldenTooSmall(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	typeText(m, "kept")
	m.Update(tea.WindowSizeMsg{Width: 30, Height: 8})
	golden(t, "too_small", screen(m))
	typeText(m, "x") // ignored while too small
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	if s := screen(m); !strings.Contains(s, "Conversations") || !strings.Contains(s, "kept") || m.input.Value() != "kept" {
		t.Fatalf("after growing the terminal, input %q:\n%s", m.input.Value(), s)
	}
}

// Resizing re-renders cached messages for the new width.
func TestResizeRerenders(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Reverse a list in Go")
	long := strings.Repeat("word ", 60)
	open(m, "conv_a", "t", []client.Message{{Role: "assistant", Content: long}})
	wide := strings.Count(screen(m), "word")
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 30})
	narrow := screen(m)
	if strings.Count(narrow, "word") != wide || wide != 60 {
		t.Fatalf("%d words at 100 columns, %d at 60", wide, strings.Count(narrow, "word"))
	}
	for _, l := range strings.Split(narrow, "\n") {
		if ansi.StringWidth(l) > 60 {
			t.Fatalf("line wider than the terminal: %q", l)
		}
	}
}

func TestHistoryRecall(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	for _, p := range []string{"first", "second"} {
		typeText(m, p)
		press(m, "enter")
		m.Update(sentMsg{err: errString("offline")}) // fail fast, then clear the input
		m.input.Reset()
		m.pend = nil
	}
	press(m, "up")
	if m.input.Value() != "second" {
		t.Fatalf("up: %q", m.input.Value())
	}
	press(m, "up")
	if m.input.Value() != "first" {
		t.Fatalf("up up: %q", m.input.Value())
	}
	press(m, "down", "down")
	if m.input.Value() != "" {
		t.Fatalf("down down: %q", m.input.Value())
	}
}

func TestNewlineKeys(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	typeText(m, "a")
	m.Update(tea.KeyPressMsg{Code: 'j', Mod: tea.ModCtrl})
	typeText(m, "b")
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter, Mod: tea.ModShift})
	typeText(m, "c")
	m.Update(tea.PasteMsg{Content: "\npasted\nlines"})
	if got := m.input.Value(); got != "a\nb\nc\npasted\nlines" {
		t.Fatalf("input %q", got)
	}
	if m.streaming {
		t.Fatal("a newline key sent the prompt")
	}
}

func TestDeleteAsksFirst(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Keep me", "Delete me")
	press(m, "tab", "down", "ctrl+d")
	if m.overlay != overlayConfirm || m.confirm.id != "conv_b" {
		t.Fatalf("overlay %v confirm %+v", m.overlay, m.confirm)
	}
	if !strings.Contains(screen(m), "Delete “Delete me”?") {
		t.Fatal("no confirmation shown")
	}
	press(m, "n")
	if m.overlay != overlayNone || len(m.side.convs) != 2 {
		t.Fatal("n did not keep it")
	}
	press(m, "ctrl+d")
	_, cmd := m.Update(key("y"))
	if cmd == nil {
		t.Fatal("y did not delete")
	}
	m.Update(deletedMsg{id: "conv_b"})
	if len(m.side.convs) != 1 {
		t.Fatalf("%d conversations after delete", len(m.side.convs))
	}
}

func TestRename(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Old title")
	press(m, "tab", "ctrl+r")
	if !m.side.renaming {
		t.Fatal("ctrl+r did not start renaming")
	}
	for range "Old title" {
		press(m, "backspace")
	}
	typeText(m, "New title")
	_, cmd := m.Update(key("enter"))
	if cmd == nil {
		t.Fatal("enter did not rename")
	}
	m.Update(renamedMsg{conv: &client.Conversation{ID: "conv_a", Title: "New title"}})
	if m.side.convs[0].Title != "New title" {
		t.Fatalf("title %q", m.side.convs[0].Title)
	}
}

// Model output cannot reach the terminal with its escape sequences: the
// clipboard (OSC 52), the title, the cursor and the screen stay ours.
func TestModelOutputIsNeutralised(t *testing.T) {
	m, clk := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", []client.Message{{Role: "user", Content: "hi\x1b]0;owned\x07"}})
	typeText(m, "go")
	press(m, "enter")
	m.Update(sentMsg{convID: "conv_a", runID: "run_1"})
	evil := "safe\x1b]52;c;ZXZpbA==\x07 text\x1b[2J\x1b[1;1H\x1b[5A\rmore\x1bP+q\x1b\\ \u009b31m\u202eend"
	// Split across batches, as a stream would.
	half := len(evil) / 2
	m.Update(streamBatchMsg{id: m.streamID, text: evil[:half], deltas: 1, first: clk.t})
	m.Update(streamBatchMsg{id: m.streamID, text: evil[half:], deltas: 1})
	check := func(when string) {
		view := m.View().Content
		for _, bad := range []string{"\x1b]52", "\x1b]0;", "\x1b[2J", "\x1b[1;1H", "\x1b[5A", "\x1bP", "\r", "\u009b", "\u202e"} {
			if strings.Contains(view, bad) {
				t.Fatalf("%s: the view carries %q", when, bad)
			}
		}
		// Every escape sequence left is our own styling (SGR: ESC [ … m).
		for _, seq := range escapes.FindAllString(view, -1) {
			if !sgr.MatchString(seq) {
				t.Fatalf("%s: a non-SGR escape sequence %q reached the view", when, seq)
			}
		}
		if !strings.Contains(ansi.Strip(view), "safe text") {
			t.Fatalf("%s: the text around the sequences is lost:\n%s", when, ansi.Strip(view))
		}
	}
	check("streaming")
	m.Update(streamRunMsg{id: m.streamID, run: &client.Run{Status: "completed", Message: &client.Message{Content: evil}}})
	m.Update(streamEndMsg{id: m.streamID})
	check("finished")
	// The sidebar and the title are server text too.
	m.Update(conversationsMsg{page: &client.Page[client.Conversation]{Data: []client.Conversation{{ID: "conv_x", Title: "x\x1b]52;c;AAAA\x07y"}}}, reset: true})
	check("titles")
}

var (
	escapes = regexp.MustCompile(`\x1b(\[[0-9;:?]*[ -/]*[@-~]|.)`)
	sgr     = regexp.MustCompile(`^\x1b\[[0-9;:]*m$`)
)

func TestStableCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"no break", 0},
		{"para one\n\npara two", len("para one\n\n")},
		{"a\n\n```\ncode\n\nmore", len("a\n\n")}, // the blank line inside the fence is not a break
		{"a\n\n```\ncode\n```\n\nb", len("a\n\n```\ncode\n```\n\n")},
	} {
		if got := stableCut(tc.in); got != tc.want {
			t.Errorf("stableCut(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// The streamed answer's head is rendered once: later batches re-render the
// tail only.
func TestStreamingRendersTailOnly(t *testing.T) {
	m, clk := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", nil)
	stream(t, m, clk, "hi")
	_ = screen(m)
	head := m.tr.live.headLines
	if len(head) == 0 {
		t.Fatal("no head rendered")
	}
	m.Update(streamBatchMsg{id: m.streamID, text: " more", deltas: 1})
	_ = screen(m)
	if &m.tr.live.headLines[0] != &head[0] {
		t.Fatal("the head was rendered again for a tail-only change")
	}
}

func TestCopyLastAnswerAndCode(t *testing.T) {
	m, _ := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", history)
	_, cmd := m.Update(key("ctrl+y"))
	if cmd == nil || !strings.Contains(m.banner, "Copied the last answer") {
		t.Fatalf("ctrl+y: banner %q", m.banner)
	}
	if got := lastCodeBlock(m.tr.lastAnswer()); got != "s := []int{1, 2, 3}\nslices.Reverse(s)" {
		t.Fatalf("code block %q", got)
	}
}

func TestNoColor(t *testing.T) {
	m := New(Options{Getenv: func(k string) string {
		if k == "NO_COLOR" {
			return "1"
		}
		return ""
	}})
	t.Cleanup(m.shutdown)
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m.Update(conversationsMsg{page: convs("a"), reset: true})
	open(m, "conv_a", "a", history)
	if colour := regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]`); colour.MatchString(m.View().Content) {
		t.Fatalf("NO_COLOR view has colours: %q", colour.FindString(m.View().Content))
	}
}

// The sidebar loads the next page when the cursor nears the end of what
// it has, and when a filter looks for more.
func TestSidebarPages(t *testing.T) {
	m, _ := newTest(t, 100, 30)
	var titles []string
	for i := 0; i < pageSize; i++ {
		titles = append(titles, fmt.Sprintf("Conversation %d", i))
	}
	page := convs(titles...)
	page.HasMore, page.NextAfter = true, str("cursor-1")
	if _, cmd := m.Update(conversationsMsg{page: page, params: client.ListParams{Limit: pageSize}, reset: true}); cmd != nil {
		t.Fatal("the next page was loaded before it was needed")
	}
	if m.side.next == nil || m.side.next.After != "cursor-1" {
		t.Fatalf("next page %+v", m.side.next)
	}
	press(m, "tab")
	var cmd tea.Cmd
	for i := 0; i < pageSize-5 && cmd == nil; i++ {
		_, cmd = m.Update(key("down"))
	}
	if cmd == nil || !m.side.loading {
		t.Fatal("moving to the end did not load the next page")
	}
	m.Update(conversationsMsg{page: convs("Older"), params: *m.side.next})
	if len(m.side.convs) != pageSize+1 || m.side.next != nil {
		t.Fatalf("%d conversations, next %+v", len(m.side.convs), m.side.next)
	}
}

func str(s string) *string { return &s }

// A conversation in a project shows the project's name after its title;
// the filter matches project names too.
func TestSidebarShowsProjects(t *testing.T) {
	m, _ := newTest(t, 100, 30)
	page := convs("Trip to Lisbon", "Reverse a list in Go", "Hotel list")
	page.Data[0].ProjectID, page.Data[2].ProjectID = "proj_travel", "proj_travel"
	m.Update(conversationsMsg{page: page, params: client.ListParams{Limit: pageSize}, reset: true})
	m.Update(projectsMsg{projects: []client.Project{{ID: "proj_travel", Name: "Travel\x1b[31m"}}})
	s := screen(m)
	if !strings.Contains(s, "Trip to Lisbon · Travel") || !strings.Contains(s, "Hotel list · Travel") || strings.Contains(s, "Go · ") {
		t.Fatalf("sidebar:\n%s", s)
	}
	if strings.Contains(m.View().Content, "\x1b[31m") {
		t.Error("a project name's escape sequence reached the terminal")
	}
	press(m, "tab")
	typeText(m, "trav")
	if v := m.side.visible(); len(v) != 2 || v[0].Title != "Trip to Lisbon" || v[1].Title != "Hotel list" {
		t.Errorf("filtering by project name: %+v", v)
	}
	// A narrow sidebar keeps the title first: the project goes before it does.
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 20})
	if s := screen(m); !strings.Contains(s, "Trip to") {
		t.Errorf("narrow:\n%s", s)
	}
}
