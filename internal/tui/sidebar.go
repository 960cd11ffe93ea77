package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

// sidebar lists the user's conversations, newest first, a page at a time.
// Typing filters by title; the filter also pulls in further pages.
type sidebar struct {
	convs    []client.Conversation // loaded so far, titles sanitised
	next     *client.ListParams    // the next page, nil when all are loaded
	loading  bool
	loaded   bool // the first page arrived
	filter   string
	cursor   int // index into visible()
	top      int // first visible row
	renaming bool
	rename   textinput.Model
	// renameRow is the row the rename field was last drawn on (-1: not
	// drawn), for the terminal's cursor.
	renameRow int
	projects  map[string]string // project id → name, sanitised
}

// nameProjects learns the projects' names (and that of current, which a
// list taken before it was made may lack).
func (s *sidebar) nameProjects(list []client.Project, current *client.Project) {
	s.projects = map[string]string{}
	if current != nil && current.ID != "" {
		list = append(list, *current)
	}
	for _, p := range list {
		s.projects[p.ID] = oneLine(safetext.Sanitize(p.Name))
	}
}

const pageSize = 50

func (s *sidebar) add(page *client.Page[client.Conversation], reset bool, p client.ListParams) {
	if reset {
		s.convs = s.convs[:0]
	}
	for _, c := range page.Data {
		c.Title = oneLine(safetext.Sanitize(c.Title))
		c.Model = safetext.Sanitize(c.Model)
		s.convs = append(s.convs, c)
	}
	if np, more := page.Next(p); more {
		s.next = &np
	} else {
		s.next = nil
	}
	s.loaded = true
	s.clamp()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// visible is the conversations the filter lets through.
func (s *sidebar) visible() []client.Conversation {
	if s.filter == "" {
		return s.convs
	}
	f := strings.ToLower(s.filter)
	var out []client.Conversation
	for _, c := range s.convs {
		if strings.Contains(strings.ToLower(titleOrUntitled(c.Title)), f) || strings.Contains(strings.ToLower(s.projects[c.ProjectID]), f) {
			out = append(out, c)
		}
	}
	return out
}

func titleOrUntitled(t string) string {
	if t == "" {
		return "Untitled"
	}
	return t
}

func (s *sidebar) selected() (client.Conversation, bool) {
	v := s.visible()
	if s.cursor < 0 || s.cursor >= len(v) {
		return client.Conversation{}, false
	}
	return v[s.cursor], true
}

func (s *sidebar) move(d int) {
	s.cursor += d
	s.clamp()
}

func (s *sidebar) clamp() {
	n := len(s.visible())
	s.cursor = max(0, min(s.cursor, n-1))
}

// wantsMore reports whether the next page should be loaded: the cursor is
// near the end, or a filter is looking for more matches.
func (s *sidebar) wantsMore(rows int) bool {
	if s.next == nil || s.loading {
		return false
	}
	return s.filter != "" || s.cursor >= len(s.visible())-rows/2
}

func (s *sidebar) upsert(c client.Conversation) {
	c.Title = oneLine(safetext.Sanitize(c.Title))
	for i := range s.convs {
		if s.convs[i].ID == c.ID {
			s.convs[i] = c
			return
		}
	}
	s.convs = append([]client.Conversation{c}, s.convs...)
}

func (s *sidebar) remove(id string) {
	for i := range s.convs {
		if s.convs[i].ID == id {
			s.convs = append(s.convs[:i], s.convs[i+1:]...)
			break
		}
	}
	s.clamp()
}

func (s *sidebar) selectID(id string) {
	for i, c := range s.visible() {
		if c.ID == id {
			s.cursor = i
			return
		}
	}
}

// view draws the sidebar, width columns by height rows.
func (s *sidebar) view(th *theme, width, height int, focused bool, activeID, streamingID string, draft bool) string {
	rows := make([]string, 0, height)
	head := th.title.Render("Conversations")
	if s.loading {
		head += th.dim.Render(" …")
	}
	rows = append(rows, head)
	switch {
	case s.filter != "":
		rows = append(rows, th.accent.Render("/ ")+s.filter+th.dim.Render("▏"))
	case focused:
		rows = append(rows, th.dim.Render("type to filter"))
	default:
		rows = append(rows, th.dim.Render("tab to browse"))
	}
	if draft {
		rows = append(rows, th.active.Render(ansi.Truncate("▸ New conversation", width, "…")))
	}
	listRows := height - len(rows) - 1
	vis := s.visible()
	if s.cursor < s.top {
		s.top = s.cursor
	}
	if s.cursor >= s.top+listRows {
		s.top = s.cursor - listRows + 1
	}
	s.top = max(0, min(s.top, len(vis)-listRows))
	s.renameRow = -1
	for i := s.top; i < len(vis) && len(rows) < height-1; i++ {
		c := vis[i]
		mark := "  "
		switch {
		case c.ID == activeID:
			mark = "▸ "
		case focused && i == s.cursor:
			mark = "› "
		}
		if c.ID == streamingID {
			mark = "… "
		}
		title := titleOrUntitled(c.Title)
		if s.renaming && focused && i == s.cursor {
			s.renameRow = len(rows)
			rows = append(rows, mark+s.rename.View())
			continue
		}
		line := ansi.Truncate(mark+title, width, "…")
		// The project, when there is room: "Trip plans · Travel".
		project := ""
		if name := s.projects[c.ProjectID]; name != "" && ansi.StringWidth(line)+4 < width {
			project = ansi.Truncate(" · "+name, width-ansi.StringWidth(line), "…")
		}
		switch {
		case focused && i == s.cursor:
			line = th.selected.Render(padRight(line+project, width))
		case c.ID == activeID:
			line = th.active.Render(line) + th.dim.Render(project)
		default:
			line = th.item.Render(line) + th.dim.Render(project)
		}
		rows = append(rows, line)
	}
	if s.loaded && len(vis) == 0 {
		if s.filter != "" {
			rows = append(rows, th.dim.Render("no match"))
		} else if !draft {
			rows = append(rows, th.dim.Render("none yet"))
		}
	}
	for len(rows) < height-1 {
		rows = append(rows, "")
	}
	foot := fmt.Sprintf("%d", len(s.convs))
	if s.next != nil {
		foot += "+"
	}
	rows = append(rows, th.dim.Render(ansi.Truncate(foot+" · ctrl+n new", width, "…")))
	return strings.Join(rows, "\n")
}

func padRight(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// startRename opens the rename field on the selected conversation, width
// cells wide, with the cursor at the title's end.
func (s *sidebar) startRename(width int) tea.Cmd {
	c, ok := s.selected()
	if !ok {
		return nil
	}
	ti := textinput.New()
	ti.Prompt = ""
	ti.SetVirtualCursor(false)
	ti.SetWidth(max(5, width))
	cmd := ti.Focus()
	ti.SetValue(c.Title) // after the width: the view scrolls to the cursor, at the end
	ti.CursorEnd()
	s.rename, s.renaming = ti, true
	return cmd
}

// renameKey handles a key while renaming. On enter it returns the
// conversation and its new title, when the title changed.
func (s *sidebar) renameKey(k tea.KeyPressMsg) (cmd tea.Cmd, id, title string) {
	switch k.String() {
	case "enter":
		s.renaming = false
		title := strings.TrimSpace(s.rename.Value())
		if c, ok := s.selected(); ok && title != "" && title != c.Title {
			return nil, c.ID, title
		}
		return nil, "", ""
	case "esc":
		s.renaming = false
		return nil, "", ""
	}
	s.rename, cmd = s.rename.Update(k)
	return cmd, "", ""
}

// pasteRename pastes into the rename field.
func (s *sidebar) pasteRename(p tea.PasteMsg) tea.Cmd {
	var cmd tea.Cmd
	s.rename, cmd = s.rename.Update(p)
	return cmd
}

// renameCursor is the terminal cursor in the rename field, relative to
// the sidebar; nil when the field is not drawn.
func (s *sidebar) renameCursor() *tea.Cursor {
	if !s.renaming || s.renameRow < 0 {
		return nil
	}
	c := s.rename.Cursor()
	if c != nil {
		c.X += 2 // the row's mark
		c.Y += s.renameRow
	}
	return c
}
