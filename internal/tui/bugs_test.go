package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
)

// The bugs an afternoon of use found (issue 15), each reproduced here
// first; the numbers are the issue's.

// longHistory is a conversation several screens long.
func longHistory(n int) []client.Message {
	var msgs []client.Message
	for i := range n {
		msgs = append(msgs,
			client.Message{ID: "u", Role: "user", Content: "question " + strings.Repeat("x", i%7)},
			client.Message{ID: "a", Role: "assistant", Content: "answer line one\n\nanswer line two\n\nanswer line three"})
	}
	return msgs
}

// 1. Esc while scrolled up during an answer returns to the end; it stops
// the answer only when already there.
func TestEscWhileScrolledFollows(t *testing.T) {
	m, clk := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", longHistory(10))
	stream(t, m, clk, "go on")
	press(m, "pgup")
	if m.tr.offset == 0 {
		t.Fatal("pgup did not scroll")
	}
	press(m, "esc")
	if m.stopping || m.tr.offset != 0 {
		t.Fatalf("esc while scrolled: stopping %v, offset %d; want following, not stopping", m.stopping, m.tr.offset)
	}
	press(m, "esc")
	if !m.stopping {
		t.Fatal("esc at the end did not stop the answer")
	}
}

// 3. "An answer is still coming…" goes once the answer has finished.
func TestStillComingNoticeClears(t *testing.T) {
	m, clk := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", nil)
	stream(t, m, clk, "first")
	typeText(m, "second")
	press(m, "enter")
	if !strings.Contains(screen(m), "still coming") {
		t.Fatalf("no notice:\n%s", screen(m))
	}
	m.Update(streamRunMsg{id: m.streamID, run: &client.Run{ID: "run_1", Status: "completed", Message: &client.Message{Content: "done"}}})
	m.Update(streamEndMsg{id: m.streamID})
	if s := screen(m); strings.Contains(s, "still coming") {
		t.Fatalf("the notice outlived the answer:\n%s", s)
	}
	if m.input.Value() != "second" {
		t.Fatalf("the draft was lost: %q", m.input.Value())
	}
}

// 6. The "↑ N lines" counter never passes the top: at the top, one more
// pgup changes nothing, and as many pgdown as pgup return to the end.
func TestScrollCounterStopsAtTheTop(t *testing.T) {
	m, _ := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", longHistory(6))
	ups := 0
	for prev := -1; m.tr.offset != prev; ups++ {
		prev = m.tr.offset
		press(m, "pgup")
		_ = screen(m)
		if ups > 100 {
			t.Fatal("never reached the top")
		}
	}
	top := m.tr.offset
	s := screen(m)
	if !strings.Contains(s, "question") || !strings.Contains(strings.Split(s, "\n")[0], "↑ ") {
		t.Fatalf("at the top:\n%s", s)
	}
	header := strings.Split(s, "\n")[0]
	press(m, "pgup")
	if m.tr.offset != top || strings.Split(screen(m), "\n")[0] != header {
		t.Fatalf("pgup at the top moved the counter: %d → %d\n%s", top, m.tr.offset, screen(m))
	}
	for range ups - 1 {
		press(m, "pgdown")
	}
	if m.tr.offset != 0 {
		t.Fatalf("%d pgdown after %d pgup left the view %d lines up", ups-1, ups-1, m.tr.offset)
	}
}

// 7. Enter in the delete dialog keeps the conversation: only y deletes.
func TestDeleteDialogEnterKeeps(t *testing.T) {
	m, _ := loaded(t, 100, 30, "Keep me")
	press(m, "tab", "ctrl+d")
	if m.overlay != overlayConfirm {
		t.Fatal("no dialog")
	}
	if _, cmd := m.Update(key("enter")); cmd != nil || m.overlay != overlayNone {
		t.Fatalf("enter in the delete dialog: overlay %v, a command %v", m.overlay, cmd != nil)
	}
}

// 8. The "too small" message fits the terminal it is shown in.
func TestTooSmallMessageFits(t *testing.T) {
	for _, size := range [][2]int{{30, 8}, {20, 5}, {39, 9}} {
		m, _ := loaded(t, 100, 30)
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		s := screen(m)
		flat := strings.Join(strings.Fields(s), " ")
		if !strings.Contains(flat, "ctrl+c") || !strings.Contains(flat, "too small") {
			t.Errorf("%dx%d: the message is cut:\n%s", size[0], size[1], s)
		}
	}
	// TestGoldenTooSmall has the 30×8 view.
}

// 10. Backspace deletes a whole grapheme cluster; ctrl+d deletes forward.
func TestGraphemeEditing(t *testing.T) {
	m, _ := loaded(t, 100, 30)
	family := "👨\u200d👩\u200d👧"
	typeText(m, "a"+family)
	press(m, "backspace")
	if v := m.input.Value(); v != "a" {
		t.Fatalf("backspace after a family emoji left %q", v)
	}
	m.input.Reset()
	typeText(m, "xe\u0342")
	press(m, "backspace")
	if v := m.input.Value(); v != "x" {
		t.Fatalf("backspace after e + combining tilde left %q", v)
	}
	m.input.Reset()
	typeText(m, "ab")
	m.Update(tea.KeyPressMsg{Code: tea.KeyLeft})
	m.Update(tea.KeyPressMsg{Code: tea.KeyLeft})
	press(m, "ctrl+d")
	if v := m.input.Value(); v != "b" {
		t.Fatalf("ctrl+d at the start of %q left %q", "ab", v)
	}
}

// 12. Renaming a long title starts at its end, with the cursor shown.
func TestRenameLongTitleShowsTheEnd(t *testing.T) {
	long := "A very long conversation title that does not fit the sidebar at all END"
	m, _ := loaded(t, 100, 30, long)
	press(m, "tab", "ctrl+r")
	if !strings.Contains(screen(m), "END") {
		t.Fatalf("the rename field does not show the title's end:\n%s", screen(m))
	}
	if m.View().Cursor == nil {
		t.Fatal("no cursor while renaming")
	}
}

// 5. A prompt the server stored but could not answer (the model went
// away) is not "Not sent": it stays in the transcript, and the banner says
// it was sent.
func TestStoredButUnansweredIsNotNotSent(t *testing.T) {
	m, _ := loaded(t, 100, 30, "t")
	open(m, "conv_a", "t", nil)
	typeText(m, "hello")
	press(m, "enter")
	m.Update(sentMsg{convID: "conv_a", err: errPosted{&client.Error{StatusCode: 404, Code: "model_not_found", Message: "model nope not found"}}})
	if strings.Contains(m.banner, "Not sent") || !strings.Contains(m.banner, "Sent, but") {
		t.Fatalf("banner %q", m.banner)
	}
	if n := len(m.tr.entries); n != 1 || m.tr.entries[0].text != "hello" {
		t.Fatalf("entries %d", n)
	}
}
