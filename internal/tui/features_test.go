package tui

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/server/servertest"
)

// ctrl+c with a draft clears it (↑ brings it back) instead of quitting;
// on an empty input it quits.
func TestCtrlCKeepsTheDraft(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	typeText(m, "half a thought")
	if _, cmd := m.Update(key("ctrl+c")); cmd != nil {
		t.Fatal("ctrl+c with a draft quit")
	}
	if m.input.Value() != "" || !strings.Contains(m.banner, "↑ brings it back") {
		t.Fatalf("input %q, banner %q", m.input.Value(), m.banner)
	}
	press(m, "up")
	if m.input.Value() != "half a thought" {
		t.Fatalf("↑ brought back %q", m.input.Value())
	}
	m.input.Reset()
	if _, cmd := m.Update(key("ctrl+c")); cmd == nil {
		t.Fatal("ctrl+c on an empty input did not quit")
	}
}

// "/" on an empty input opens the command palette; typing filters it and
// enter runs the command. With text in the input, "/" is a character.
func TestCommandPalette(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Reverse a list in Go")
	open(m, "conv_a", "Reverse a list in Go", history)
	press(m, "/")
	if m.overlay != overlayPalette {
		t.Fatal("/ did not open the palette")
	}
	golden(t, "palette", screen(m))
	typeText(m, "ne")
	if cmds := m.paletteCommands(); len(cmds) == 0 || cmds[0].name != "new" || len(cmds) == len(commands) {
		t.Fatalf("filtered %+v", cmds)
	}
	press(m, "enter")
	if m.overlay != overlayNone || m.conv != nil {
		t.Fatalf("/new: overlay %v, conversation %+v", m.overlay, m.conv)
	}
	typeText(m, "a/b")
	if m.overlay != overlayNone || m.input.Value() != "a/b" {
		t.Fatalf("a / in text: overlay %v, input %q", m.overlay, m.input.Value())
	}
	m.input.Reset()
	open(m, "conv_a", "Reverse a list in Go", history)
	press(m, "/")
	typeText(m, "model")
	press(m, "enter")
	if m.overlay != overlayPicker {
		t.Fatalf("/model opened overlay %v", m.overlay)
	}
}

// Until the first token, the status line shows a spinner with the time
// waited.
func TestGoldenSpinner(t *testing.T) {
	m, clk := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", nil)
	typeText(m, "think hard")
	press(m, "enter")
	m.Update(sentMsg{convID: "conv_a", runID: "run_1"})
	clk.t = clk.t.Add(1200 * time.Millisecond)
	golden(t, "spinner", screen(m))
	if !strings.Contains(screen(m), "waiting 1.2s") {
		t.Fatal("no waiting time")
	}
}

// TTFT and tokens/s belong to the conversation they were measured in.
func TestFiguresPerConversation(t *testing.T) {
	m, clk := loaded(t, 100, 30, "a", "b")
	open(m, "conv_a", "a", nil)
	stream(t, m, clk, "go")
	clk.t = clk.t.Add(time.Second)
	m.Update(streamRunMsg{id: m.streamID, run: &client.Run{ID: "run_1", Status: "completed", Message: &client.Message{Content: "x"}, Usage: &client.Usage{CompletionTokens: 11}}})
	m.Update(streamEndMsg{id: m.streamID})
	if s := screen(m); !strings.Contains(s, "TTFT 250ms") || !strings.Contains(s, "tok/s") {
		t.Fatalf("no figures:\n%s", s)
	}
	open(m, "conv_b", "b", nil)
	if s := screen(m); strings.Contains(s, "TTFT") {
		t.Fatalf("conversation b shows a's figures:\n%s", s)
	}
}

// The help scrolls when the window is too small for it.
func TestHelpScrolls(t *testing.T) {
	m, _ := loaded(t, 80, 16)
	press(m, "?")
	first := screen(m)
	if !strings.Contains(first, "↑/↓ scroll") {
		t.Fatalf("no scroll hint in a small window:\n%s", first)
	}
	press(m, "down", "down", "down")
	if screen(m) == first || m.overlay != overlayHelp {
		t.Fatal("↓ did not scroll the help")
	}
	for range 100 {
		press(m, "down")
	}
	if !strings.Contains(screen(m), "quit") {
		t.Fatalf("the end of the help is unreachable:\n%s", screen(m))
	}
	press(m, "x")
	if m.overlay != overlayNone {
		t.Fatal("a key did not close the help")
	}
}

// The mouse wheel scrolls the transcript.
func TestMouseWheelScrolls(t *testing.T) {
	m, _ := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", longHistory(10))
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelUp, X: 50, Y: 10})
	if m.tr.offset != 3 {
		t.Fatalf("wheel up: offset %d", m.tr.offset)
	}
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown, X: 50, Y: 10})
	if m.tr.offset != 0 {
		t.Fatalf("wheel down: offset %d", m.tr.offset)
	}
	if m.View().MouseMode != tea.MouseModeCellMotion {
		t.Fatal("the mouse is not on")
	}
}

// /export writes the conversation as stored to a Markdown file named after
// its title, never over an existing file.
func TestExportCommand(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 4}})
	dir := t.TempDir()
	d := drive(t, Options{Client: guestAPI(t, srv.URL), ExportDir: dir}, 100, 30)
	d.until("the first page", func() bool { return d.m.side.loaded })
	d.typeText("Plan a trip to Lisbon")
	d.keys("enter")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
	for range 2 {
		d.keys("/")
		d.typeText("export")
		d.keys("enter")
		d.until("the export", func() bool { return strings.HasPrefix(d.m.banner, "Saved") })
		d.m.clearBanner()
	}
	for _, name := range []string{"plan-a-trip-to-lisbon.md", "plan-a-trip-to-lisbon-2.md"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !strings.HasPrefix(string(b), "# Plan a trip to Lisbon\n") || !strings.Contains(string(b), "## You\n\nPlan a trip to Lisbon") ||
			!strings.Contains(string(b), "Hello from the fake") {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
	}
}

// A relaunch opens the conversation the last run was in, and ↑ recalls
// the prompts of earlier runs; a remembered conversation that is gone
// starts a new one without an error.
func TestRelaunchContinues(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 4}})
	api := guestAPI(t, srv.URL)
	state := filepath.Join(t.TempDir(), "state", "chat.json")
	o := Options{Client: api, Server: srv.URL, StatePath: state}
	d := drive(t, o, 100, 30)
	d.until("the first page", func() bool { return d.m.side.loaded })
	d.typeText("Remember me")
	d.keys("enter")
	d.until("the answer", func() bool { return !d.m.streaming && len(d.m.tr.entries) == 2 })
	conv := d.m.conv.ID
	d.until("the state saved", func() bool { return loadState(state).Conversations[srv.URL] == conv })
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file %v %v", fi, err)
	}
	d.m.shutdown()

	d = drive(t, o, 100, 30)
	d.until("the last conversation", func() bool { return d.m.conv != nil && d.m.conv.ID == conv && d.m.opening == "" })
	d.keys("up")
	if d.m.input.Value() != "Remember me" {
		t.Fatalf("↑ after a relaunch: %q", d.m.input.Value())
	}
	if err := api.DeleteConversation(context.Background(), conv); err != nil {
		t.Fatal(err)
	}
	d.m.shutdown()

	d = drive(t, o, 100, 30)
	d.until("a new conversation", func() bool { return d.m.side.loaded && d.m.opening == "" && !d.m.resuming })
	if d.m.conv != nil || d.m.bannerIsErr {
		t.Fatalf("conversation %+v, banner %q", d.m.conv, d.m.banner)
	}
}

// A drag over the transcript selects its text — never the sidebar's — and
// the release copies it.
func TestMouseSelectionCopiesTranscriptText(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Reverse a list in Go")
	open(m, "conv_a", "Reverse a list in Go", history)
	s := screen(m)
	rows := strings.Split(s, "\n")
	y := -1
	for i, r := range rows {
		if strings.Contains(r, "How do I reverse") {
			y = i
		}
	}
	if y < 0 {
		t.Fatalf("no prompt on screen:\n%s", s)
	}
	x0 := m.sidebarWidth() + 1
	m.Update(tea.MouseClickMsg{Button: tea.MouseLeft, X: 0, Y: y}) // on the sidebar: nothing
	m.Update(tea.MouseReleaseMsg{Button: tea.MouseLeft, X: 5, Y: y})
	if m.banner != "" {
		t.Fatalf("a drag on the sidebar copied: %q", m.banner)
	}
	m.Update(tea.MouseClickMsg{Button: tea.MouseLeft, X: x0, Y: y})
	m.Update(tea.MouseMotionMsg{Button: tea.MouseLeft, X: x0 + 20, Y: y + 3})
	if !m.sel.active || !strings.Contains(m.View().Content, "\x1b[") {
		t.Fatal("no selection while dragging")
	}
	_, cmd := m.Update(tea.MouseReleaseMsg{Button: tea.MouseLeft, X: x0 + 20, Y: y + 3})
	if cmd == nil || !strings.HasPrefix(m.banner, "Copied") {
		t.Fatalf("release: banner %q", m.banner)
	}
	got := m.selectedTextFor(x0, y, x0+20, y+3)
	if !strings.Contains(got, "How do I reverse") || strings.Contains(got, "Conversations") || strings.Contains(got, "Reverse a list in Go  ") {
		t.Fatalf("selected %q", got)
	}
}

// selectedTextFor is the text a drag from (x0, y0) to (x1, y1) selects.
func (m *Model) selectedTextFor(x0, y0, x1, y1 int) string {
	saved := m.sel
	defer func() { m.sel = saved }()
	c0, r0, _ := m.bodyPoint(x0, y0)
	c1, r1, _ := m.bodyPoint(x1, y1)
	m.sel = selection{active: true, fromCol: c0, fromRow: r0, toCol: c1, toRow: r1}
	return m.selectedText()
}

// What the chat remembers is bounded when it is read back: a state file
// that is not what saveState writes (too big, not JSON) is an empty state,
// and the chat starts.
func TestStateFileBounded(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage": "not json",
		"huge":    `{"prompts":["` + strings.Repeat("x", maxStateBytes) + `"]}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if st := loadState(path); len(st.Prompts) != 0 || len(st.Conversations) != 0 {
			t.Errorf("%s: state %d prompts", name, len(st.Prompts))
		}
	}
	st := chatState{Prompts: make([]string, keepPrompts+10)}
	b, _ := json.Marshal(st)
	path := filepath.Join(dir, "many")
	_ = os.WriteFile(path, b, 0o600)
	if got := loadState(path); len(got.Prompts) != keepPrompts {
		t.Errorf("%d prompts kept, want %d", len(got.Prompts), keepPrompts)
	}
}
