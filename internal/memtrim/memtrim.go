// Package memtrim gives back, once a server has started, the memory its
// start-up used and will not use again.
//
// Every package initialiser in the one jan binary runs in every jan
// process, and each touches pages of the binary's code and constant data
// scattered across it; the kernel maps 64 KiB around each touched page
// ("fault-around"), so a jan serve that has just started keeps most of its
// 57 MB binary mapped (28 MB of its 40 MB RSS, measured) though serving
// uses a fraction of it. AfterStart unmaps those read-only pages (they stay
// in the page cache: what serving touches again maps back without I/O) and
// returns the start-up's garbage to the operating system.
package memtrim

import (
	"bufio"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
)

// AfterStart returns the heap's free memory to the operating system and
// unmaps the executable's read-only pages; it reports the bytes of the
// executable it unmapped (0 where the platform offers no way).
func AfterStart() int64 {
	debug.FreeOSMemory()
	return dropExecutablePages()
}

// region is one mapping of the executable that may be unmapped.
type region struct {
	start, end uintptr
	rss        int64 // bytes resident
}

// readOnlyRegions reads /proc/self/smaps and returns the read-only
// mappings (code, constant data) of the file exe. A mapping with any
// anonymous page is left out: such a page was written (a relocation, say)
// and would come back from the file without that write.
func readOnlyRegions(smaps io.Reader, exe string) []region {
	var out []region
	var cur *region
	keep := false
	flush := func() {
		if cur != nil && keep {
			out = append(out, *cur)
		}
		cur, keep = nil, false
	}
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") && strings.Contains(fields[0], "-") {
			flush()
			perms, path := fields[1], ""
			if len(fields) >= 6 {
				path = strings.Join(fields[5:], " ")
			}
			if path != exe || (perms != "r-xp" && perms != "r--p") {
				continue
			}
			a, b, _ := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(a, 16, 64)
			e, err2 := strconv.ParseUint(b, 16, 64)
			if err1 != nil || err2 != nil || e <= s {
				continue
			}
			cur, keep = &region{start: uintptr(s), end: uintptr(e)}, true
			continue
		}
		if cur == nil {
			continue
		}
		if v, ok := kB(line, "Anonymous:"); ok && v != 0 {
			keep = false
		}
		if v, ok := kB(line, "Rss:"); ok {
			cur.rss = v << 10
		}
	}
	flush()
	return out
}

// kB reads a "Name:   123 kB" line of smaps.
func kB(line, name string) (int64, bool) {
	v, ok := strings.CutPrefix(line, name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n, err == nil
}
