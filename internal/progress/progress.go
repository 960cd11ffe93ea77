// Package progress shows the stack's events to people: a line per step
// (create, start, wait, ready, rollback, notes), and for image pulls one
// redrawn bar per image on a terminal, a line per pull otherwise. It only
// writes to the writer it is given.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/janhq/jan/internal/stack"
)

// Printer prints the stack's events; hand its Event method to
// stack.Stack.Report.
type Printer struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	pulls   map[string]pullState
	order   []string // images in the order their pulls began
	drawn   int      // bar lines on screen
	drawnAt time.Time
	started map[string]time.Time
	kept    map[string]bool
}

type pullState struct {
	cur, total int64
	done       bool
}

// New prints to w; tty says whether w is a terminal (bars are redrawn in
// place only there).
func New(w io.Writer, tty bool) *Printer {
	return &Printer{w: w, tty: tty, pulls: map[string]pullState{}, started: map[string]time.Time{}, kept: map[string]bool{}}
}

// Event shows one event.
func (p *Printer) Event(e stack.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Step {
	case stack.StepNote:
		fmt.Fprintln(p.w, e.Detail)
	case stack.StepPull, stack.StepPulled:
		st, seen := p.pulls[e.Detail]
		if !seen {
			p.order = append(p.order, e.Detail)
		}
		if e.Step == stack.StepPulled {
			st.done = true
		} else if e.Total > 0 {
			st.cur, st.total = e.Current, e.Total
		}
		p.pulls[e.Detail] = st
		if !p.tty {
			switch {
			case !seen:
				fmt.Fprintf(p.w, "  pulling %s\n", e.Detail)
			case st.done:
				fmt.Fprintf(p.w, "  pulled %s\n", e.Detail)
			}
			return
		}
		if !st.done && time.Since(p.drawnAt) < 100*time.Millisecond {
			return
		}
		p.drawPulls()
	case stack.StepPullsEnd:
		if p.tty && len(p.order) > 0 {
			p.drawPulls()
		}
		p.pulls, p.order, p.drawn = map[string]pullState{}, nil, 0
	case stack.StepCreate:
		p.started[e.Service] = time.Now()
		fmt.Fprintf(p.w, "  %-15s creating (%s)\n", e.Service, e.Detail)
	case stack.StepRecreate:
		p.started[e.Service] = time.Now()
		fmt.Fprintf(p.w, "  %-15s configuration changed: recreating\n", e.Service)
	case stack.StepStart:
		if _, ok := p.started[e.Service]; !ok {
			p.started[e.Service] = time.Now()
			fmt.Fprintf(p.w, "  %-15s starting\n", e.Service)
		}
	case stack.StepKeep:
		p.started[e.Service] = time.Now()
		p.kept[e.Service] = true
		fmt.Fprintf(p.w, "  %-15s running, unchanged\n", e.Service)
	case stack.StepWait:
		delete(p.kept, e.Service)
		fmt.Fprintf(p.w, "  %-15s waiting for its healthcheck (up to %s)\n", e.Service, e.Detail)
	case stack.StepHealthy:
		if p.kept[e.Service] {
			return // running, unchanged and healthy: said already
		}
		fmt.Fprintf(p.w, "  %-15s ready (%s)\n", e.Service, time.Since(p.started[e.Service]).Round(100*time.Millisecond))
	case stack.StepRollback:
		if what, ok := strings.CutPrefix(e.Detail, "stop "); ok {
			fmt.Fprintf(p.w, "  rolling back: stopping %s\n", what)
		} else {
			fmt.Fprintf(p.w, "  rolling back: removing %s\n", e.Detail)
		}
	case stack.StepRemove:
		if e.Service != "" {
			fmt.Fprintf(p.w, "  %-15s removing\n", e.Service)
		} else {
			fmt.Fprintf(p.w, "  removing %s\n", e.Detail)
		}
	}
}

// drawPulls redraws one bar per image in place (a terminal only).
func (p *Printer) drawPulls() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\033[%dA", p.drawn)
	}
	width := 0
	for _, img := range p.order {
		width = max(width, len(img))
	}
	for _, img := range p.order {
		st := p.pulls[img]
		fmt.Fprintf(p.w, "\r\033[K  %-*s  ", width, img)
		switch {
		case st.done:
			fmt.Fprintln(p.w, "pulled")
		case st.total == 0:
			fmt.Fprintln(p.w, "waiting")
		default:
			const bar = 24
			n := int(float64(bar) * float64(st.cur) / float64(st.total))
			n = min(max(n, 0), bar)
			fmt.Fprintf(p.w, "[%s%s] %3d%%  %s / %s\n", strings.Repeat("█", n), strings.Repeat("░", bar-n),
				100*st.cur/st.total, stack.HumanBytes(st.cur), stack.HumanBytes(st.total))
		}
	}
	p.drawn, p.drawnAt = len(p.order), time.Now()
}
