package tui

import (
	"charm.land/bubbles/v2/textarea"
	"charm.land/lipgloss/v2"

	"github.com/janhq/jan/internal/third_party/glamour/styles"
)

// theme is every style the views use, for a dark or light terminal, or
// none at all (NO_COLOR: structure through bold, reverse and symbols only).
type theme struct {
	dark, noColor bool
	glamour       string // glamour style name

	sidebar, sidebarFocused     lipgloss.Style
	title, dim, accent          lipgloss.Style
	item, selected, active      lipgloss.Style
	you, bot                    lipgloss.Style
	userText                    lipgloss.Style
	note, failNote              lipgloss.Style
	errBanner, noticeBanner     lipgloss.Style
	status, statusOK, statusBad lipgloss.Style
	overlay                     lipgloss.Style
	rule, ruleFocused           lipgloss.Style
}

func newTheme(dark, noColor bool) theme {
	t := theme{dark: dark, noColor: noColor, glamour: styles.DarkStyle}
	if !dark {
		t.glamour = styles.LightStyle
	}
	if noColor {
		t.glamour = styles.NoTTYStyle
		b := lipgloss.NewStyle()
		t.sidebar = b.Border(lipgloss.NormalBorder(), false, true, false, false)
		t.sidebarFocused = b.Border(lipgloss.ThickBorder(), false, true, false, false)
		t.title, t.accent, t.you, t.bot, t.active = b.Bold(true), b.Bold(true), b.Bold(true), b.Bold(true), b.Bold(true)
		t.dim, t.item, t.userText, t.note, t.status, t.statusOK = b, b, b, b, b, b
		t.selected = b.Reverse(true)
		t.failNote, t.errBanner, t.noticeBanner, t.statusBad = b.Bold(true), b.Bold(true), b, b.Bold(true)
		t.overlay = b.Border(lipgloss.NormalBorder()).Padding(0, 1)
		t.rule, t.ruleFocused = b, b.Bold(true)
		return t
	}
	ld := lipgloss.LightDark(dark)
	var (
		fg     = ld(lipgloss.Color("#1f2328"), lipgloss.Color("#e6edf3"))
		muted  = ld(lipgloss.Color("#6e7781"), lipgloss.Color("#8b949e"))
		accent = ld(lipgloss.Color("#8250df"), lipgloss.Color("#bc8cff"))
		green  = ld(lipgloss.Color("#1a7f37"), lipgloss.Color("#3fb950"))
		red    = ld(lipgloss.Color("#cf222e"), lipgloss.Color("#f85149"))
		yellow = ld(lipgloss.Color("#9a6700"), lipgloss.Color("#d29922"))
		selBg  = ld(lipgloss.Color("#ddf4ff"), lipgloss.Color("#1f3a5f"))
		line   = ld(lipgloss.Color("#d0d7de"), lipgloss.Color("#30363d"))
	)
	b := lipgloss.NewStyle()
	t.sidebar = b.Border(lipgloss.NormalBorder(), false, true, false, false).BorderForeground(line)
	t.sidebarFocused = b.Border(lipgloss.NormalBorder(), false, true, false, false).BorderForeground(accent)
	t.title = b.Bold(true).Foreground(fg)
	t.dim = b.Foreground(muted)
	t.accent = b.Foreground(accent).Bold(true)
	t.item = b.Foreground(fg)
	t.selected = b.Foreground(fg).Background(selBg).Bold(true)
	t.active = b.Foreground(accent).Bold(true)
	t.you = b.Foreground(green).Bold(true)
	t.bot = b.Foreground(accent).Bold(true)
	t.userText = b.Foreground(fg)
	t.note = b.Foreground(yellow)
	t.failNote = b.Foreground(red)
	t.errBanner = b.Foreground(red).Bold(true)
	t.noticeBanner = b.Foreground(yellow)
	t.status = b.Foreground(muted)
	t.statusOK = b.Foreground(green)
	t.statusBad = b.Foreground(red).Bold(true)
	t.overlay = b.Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	t.rule = b.Foreground(line)
	t.ruleFocused = b.Foreground(accent)
	return t
}

// inputStyles are the textarea's styles: no cursor-line band, a dim
// placeholder, and no colour at all under NO_COLOR.
func (t theme) inputStyles() textarea.Styles {
	s := textarea.DefaultStyles(t.dark)
	plain := lipgloss.NewStyle()
	for _, st := range []*textarea.StyleState{&s.Focused, &s.Blurred} {
		st.Base, st.Text, st.CursorLine, st.EndOfBuffer, st.Prompt = plain, plain, plain, plain, plain
		st.Placeholder = t.dim
		st.Selection = plain.Reverse(true)
	}
	s.Blurred.Text = t.dim
	s.Blurred.CursorLine = t.dim
	return s
}
