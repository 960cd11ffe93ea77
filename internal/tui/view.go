package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

func (m *Model) tooSmall() bool { return m.width < minWidth || m.height < minHeight }

func (m *Model) sidebarWidth() int {
	if m.width < sidebarBreak {
		if m.focus == focusSidebar {
			return m.width - 1
		}
		return 0
	}
	return max(22, min(34, m.width/4))
}

func (m *Model) mainWidth() int {
	sw := m.sidebarWidth()
	if sw == 0 {
		return m.width
	}
	if m.width < sidebarBreak {
		return 0 // the sidebar has the whole screen
	}
	return m.width - sw - 1
}

func (m *Model) layout() {
	if w := m.mainWidth(); w > 0 {
		m.input.SetWidth(w)
	}
}

func (m *Model) bannerLines() []string {
	if m.banner == "" {
		return nil
	}
	w := max(1, m.mainWidth())
	st := m.th.noticeBanner
	prefix := "ℹ "
	if m.bannerIsErr {
		st, prefix = m.th.errBanner, "✗ "
	}
	lines := strings.Split(ansi.Wrap(prefix+m.banner, w, " "), "\n")
	if len(lines) > 2 {
		lines = lines[:2]
		lines[1] = ansi.Truncate(lines[1], w-1, "") + "…"
	}
	for i := range lines {
		lines[i] = st.Render(lines[i])
	}
	return lines
}

// transcriptHeight is the rows left for the transcript.
func (m *Model) transcriptHeight() int {
	return max(1, m.height-1 /*header*/ -1 /*status*/ -(inputHeight+1) /*input+rule*/ -len(m.bannerLines()))
}

func (m *Model) listRows() int { return max(1, m.height-5) }

// View draws the chat.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "jan chat"
	v.MouseMode = tea.MouseModeCellMotion // the wheel scrolls, a drag selects transcript text (mouse.go)
	if c := m.cursor(); c != nil {
		v.Cursor = c
	}
	return v
}

// render is the whole screen as text.
func (m *Model) render() string {
	if m.width == 0 {
		return "Starting jan chat…"
	}
	if m.tooSmall() {
		return m.tooSmallView()
	}
	body := m.height - 1
	var top string
	sw, mw := m.sidebarWidth(), m.mainWidth()
	side := ""
	if sw > 0 {
		draft := m.conv == nil
		activeID := ""
		if m.conv != nil {
			activeID = m.conv.ID
		}
		streaming := ""
		if m.streaming {
			streaming = m.streamConv
		}
		st := m.th.sidebar
		if m.focus == focusSidebar {
			st = m.th.sidebarFocused
		}
		side = st.Height(body).MaxHeight(body).Render(fitBlock(m.side.view(&m.th, sw, body, m.focus == focusSidebar, activeID, streaming, draft), sw, body))
	}
	switch {
	case mw == 0:
		top = side
	case sw == 0:
		top = m.mainView(mw, body)
	default:
		top = lipgloss.JoinHorizontal(lipgloss.Top, side, m.mainView(mw, body))
	}
	return top + "\n" + m.statusLine()
}

// tooSmallView says the terminal is too small, in as many words as fit.
func (m *Model) tooSmallView() string {
	for _, msg := range []string{
		fmt.Sprintf("This terminal is too small for jan chat: it is %d×%d, and jan chat needs at least %d×%d.\n\nMake it bigger, or press ctrl+c to quit.",
			m.width, m.height, minWidth, minHeight),
		fmt.Sprintf("Terminal too small (%d×%d; needs %d×%d). Make it bigger, or ctrl+c to quit.", m.width, m.height, minWidth, minHeight),
		"Terminal too small. ctrl+c quits.",
	} {
		wrapped := ansi.Wrap(msg, max(1, m.width-2), " ")
		if lines := strings.Split(wrapped, "\n"); len(lines) <= m.height {
			return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, wrapped)
		}
	}
	return fitBlock("too small", m.width, m.height)
}

func (m *Model) mainView(w, h int) string {
	lines := make([]string, 0, h)
	lines = append(lines, m.header(w))
	th := m.transcriptHeight()
	var body []string
	switch m.overlay {
	case overlayHelp:
		body = placeBox(m.helpView(w, th), w, th)
	case overlayPicker:
		body = placeBox(m.pickerView(w), w, th)
	case overlayConfirm:
		body = placeBox(m.confirmView(w), w, th)
	case overlayPalette:
		body = placeBox(m.paletteView(w), w, th)
	default:
		if m.tr.empty() {
			body = placeBox(m.emptyView(w), w, th)
		} else {
			body = m.highlight(m.tr.view(w, th))
		}
		m.body = body
	}
	lines = append(lines, body...)
	lines = append(lines, m.bannerLines()...)
	rule := m.th.rule
	if m.focus == focusInput && m.overlay == overlayNone {
		rule = m.th.ruleFocused
	}
	lines = append(lines, rule.Render(strings.Repeat("─", w)))
	lines = append(lines, strings.Split(m.input.View(), "\n")...)
	return fitBlock(strings.Join(lines, "\n"), w, h)
}

func (m *Model) header(w int) string {
	title := "New conversation"
	if m.conv != nil {
		title = titleOrUntitled(m.conv.Title)
	}
	if m.opening != "" {
		title = "Opening…"
	}
	right := ""
	if m.tr.offset > 0 {
		right = fmt.Sprintf("↑ %d lines · esc to follow", m.tr.offset)
	}
	left := ansi.Truncate(title, max(1, w-ansi.StringWidth(right)-1), "…")
	gap := max(1, w-ansi.StringWidth(left)-ansi.StringWidth(right))
	return m.th.title.Render(left) + strings.Repeat(" ", gap) + m.th.dim.Render(right)
}

func (m *Model) emptyView(w int) string {
	if m.opening != "" {
		return m.th.dim.Render("Loading the conversation…")
	}
	lines := []string{
		m.th.title.Render("Ask anything."),
		"",
		m.th.dim.Render("enter send · ctrl+j newline · ctrl+l model"),
		m.th.dim.Render("tab conversations · ctrl+n new · ? help"),
	}
	return strings.Join(lines, "\n")
}

// spinner is the waiting spinner's frames, one per 100 ms.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (m *Model) statusLine() string {
	var parts []string
	switch {
	case m.conn == connOffline:
		parts = append(parts, m.th.statusBad.Render("○ offline"))
	case m.conn == connConnecting:
		parts = append(parts, m.th.status.Render("◌ connecting"))
	case m.streaming && m.stopping:
		parts = append(parts, m.th.statusOK.Render("● stopping…"))
	case m.streaming && m.firstToken.IsZero() && m.pend != nil:
		waited := m.opts.Now().Sub(m.pend.started)
		frame := spinner[int(waited/(100*time.Millisecond))%len(spinner)]
		parts = append(parts, m.th.statusOK.Render(fmt.Sprintf("%s waiting %.1fs", frame, waited.Seconds())))
	case m.streaming:
		parts = append(parts, m.th.statusOK.Render(fmt.Sprintf("● streaming %d tokens", m.tokens)))
	default:
		parts = append(parts, m.th.statusOK.Render("● connected"))
	}
	if md, isDefault := m.currentModel(); md != "" {
		if isDefault {
			md += " (default)"
		}
		parts = append(parts, m.th.status.Render(md))
	} else if m.modelErr != nil {
		parts = append(parts, m.th.statusBad.Render("no models"))
	}
	conv := ""
	if m.conv != nil {
		conv = m.conv.ID
	}
	if f := m.figures[conv]; f.ttft > 0 { // this conversation's last answer
		parts = append(parts, m.th.status.Render("TTFT "+fmtDuration(f.ttft)))
		if f.tps > 0 {
			parts = append(parts, m.th.status.Render(fmt.Sprintf("%.1f tok/s", f.tps)))
		}
	}
	left := strings.Join(parts, m.th.dim.Render(" │ "))
	right := m.th.dim.Render("? help · ctrl+c quit")
	if ansi.StringWidth(left)+ansi.StringWidth(right)+1 > m.width {
		right = ""
	}
	gap := max(1, m.width-ansi.StringWidth(left)-ansi.StringWidth(right))
	return ansi.Truncate(left+strings.Repeat(" ", gap)+right, m.width, "…")
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// cursor places the terminal's cursor in the input, or in the rename
// field while renaming.
func (m *Model) cursor() *tea.Cursor {
	if m.tooSmall() || m.overlay != overlayNone || m.width == 0 {
		return nil
	}
	if m.focus == focusSidebar && m.side.renaming {
		return m.side.renameCursor()
	}
	if m.focus != focusInput {
		return nil
	}
	c := m.input.Cursor()
	if c == nil {
		return nil
	}
	x := 0
	if sw := m.sidebarWidth(); sw > 0 {
		x = sw + 1
	}
	y := m.height - 1 - inputHeight
	c.X += x
	c.Y += y
	return c
}

// fitBlock pads or cuts text to exactly w×h cells.
func fitBlock(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		switch n := ansi.StringWidth(l); {
		case n > w:
			l = ansi.Truncate(l, w, "")
		case n < w:
			l += strings.Repeat(" ", w-n)
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// placeBox centres a block in w×h and returns its lines.
func placeBox(box string, w, h int) []string {
	return strings.Split(lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, box), "\n")
}
