package progress

import (
	"bytes"
	"strings"
	"testing"

	"github.com/janhq/jan/internal/stack"
)

// Piped, every step is one plain line (no escape sequences): a pull's
// start and end, the services' steps, notes, a rollback.
func TestPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, false)
	for _, e := range []stack.Event{
		{Step: stack.StepNote, Detail: "Hardware: no NVIDIA GPU → CPU profile"},
		{Step: stack.StepPull, Detail: "postgres:15", Current: 10, Total: 100},
		{Step: stack.StepPull, Detail: "postgres:15", Current: 50, Total: 100},
		{Step: stack.StepPulled, Detail: "postgres:15"},
		{Step: stack.StepPullsEnd},
		{Service: "api-db", Step: stack.StepCreate, Detail: "postgres:15"},
		{Service: "api-db", Step: stack.StepWait, Detail: "2m0s"},
		{Service: "api-db", Step: stack.StepHealthy},
		{Service: "kong", Step: stack.StepKeep},
		{Service: "kong", Step: stack.StepHealthy},
		{Step: stack.StepRollback, Detail: "stop jan-kong"},
	} {
		p.Event(e)
	}
	got := b.String()
	for _, want := range []string{"Hardware: no NVIDIA GPU → CPU profile\n", "  pulling postgres:15\n", "  pulled postgres:15\n",
		"  api-db          creating (postgres:15)\n", "  api-db          waiting for its healthcheck (up to 2m0s)\n",
		"  api-db          ready (", "  kong            running, unchanged\n", "  rolling back: stopping jan-kong\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\033") || strings.Count(got, "kong") != 2 {
		t.Errorf("piped output has escapes, or a kept service's health was said twice:\n%s", got)
	}
}

// On a terminal, pulls are bars redrawn in place.
func TestTerminalBars(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, true)
	p.Event(stack.Event{Step: stack.StepPull, Detail: "kong:3.9", Current: 50, Total: 100})
	p.Event(stack.Event{Step: stack.StepPulled, Detail: "kong:3.9"})
	if got := b.String(); !strings.Contains(got, "50%") || !strings.Contains(got, "\033[1A") || !strings.Contains(got, "pulled") {
		t.Errorf("terminal output:\n%q", got)
	}
}
