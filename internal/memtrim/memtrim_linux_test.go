package memtrim

import (
	"fmt"
	"os"
	"testing"
)

// residentCode is how much of the test binary's read-only mappings is
// resident.
func residentCode(t *testing.T) int64 {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	for _, r := range readOnlyRegions(f, exe) {
		n += r.rss
	}
	return n
}

// After AfterStart the binary's pages are unmapped, and the code that runs
// next still runs: what it touches maps back.
func TestAfterStartUnmapsTheBinary(t *testing.T) {
	before := residentCode(t)
	dropped := AfterStart()
	after := residentCode(t)
	t.Logf("resident code and constants: %d kB before, %d kB after (%d kB dropped)", before>>10, after>>10, dropped>>10)
	// Reading smaps maps some code back, 64 KiB around each page it runs
	// (a test binary is small, so that is a good part of it).
	if dropped <= 0 || after > before*3/4 {
		t.Errorf("resident %d kB before, %d kB after, %d kB dropped: want a quarter of it gone at least", before>>10, after>>10, dropped>>10)
	}
	if s := fmt.Sprintf("%d %s %v", 42, "still", []float64{1.5}); s != "42 still [1.5]" {
		t.Errorf("after the trim: %q", s)
	}
}
