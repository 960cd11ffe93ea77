package server

import (
	"runtime/debug"
	"testing"
)

// Serving sets GOGC=200 unless the environment sets GOGC. Not parallel: it
// changes the process's collector, and puts it back.
func TestServingGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	for _, c := range []struct {
		gogc string
		want int
	}{{"", 200}, {"50", 100}, {"off", 100}} {
		debug.SetGCPercent(100)
		servingGC(func(k string) string {
			if k == "GOGC" {
				return c.gogc
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC=%q: the collector's percent is %d, want %d", c.gogc, got, c.want)
		}
	}
}
