package memtrim

import (
	"strings"
	"testing"
)

const smapsFixture = `00400000-0151b000 r-xp 00000000 fe:00 10111238                           /usr/bin/jan
Size:              17516 kB
Rss:               14112 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
0151b000-0299b000 r--p 0111b000 fe:00 10111238                           /usr/bin/jan
Size:              21120 kB
Rss:               12672 kB
Anonymous:             0 kB
0299b000-02b1e000 rw-p 0259b000 fe:00 10111238                           /usr/bin/jan
Rss:                 972 kB
Anonymous:           412 kB
02c00000-02c10000 r--p 00000000 fe:00 10111238                           /usr/bin/jan
Rss:                  64 kB
Anonymous:             4 kB
7f0000000000-7f0000010000 r-xp 00000000 fe:00 222                        /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                  60 kB
Anonymous:             0 kB
7f0000020000-7f0000030000 rw-p 00000000 00:00 0
Rss:                  64 kB
Anonymous:            64 kB
7f0000040000-7f0000050000 r-xp 00000000 fe:00 10111238                   /usr/bin/jan (deleted)
Rss:                  64 kB
Anonymous:             0 kB
`

// Only the executable's read-only mappings with no written page are
// unmapped: not its data, not a read-only mapping with a copied-on-write
// page, not another file's, not anonymous memory, not a replaced binary.
func TestReadOnlyRegions(t *testing.T) {
	got := readOnlyRegions(strings.NewReader(smapsFixture), "/usr/bin/jan")
	want := []region{{start: 0x400000, end: 0x151b000, rss: 14112 << 10}, {start: 0x151b000, end: 0x299b000, rss: 12672 << 10}}
	if len(got) != len(want) {
		t.Fatalf("regions %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("region %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
