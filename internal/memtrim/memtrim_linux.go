package memtrim

import (
	"os"

	"golang.org/x/sys/unix"
)

func dropExecutablePages() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	regions := readOnlyRegions(f, exe)
	f.Close()
	var dropped int64
	for _, r := range regions {
		// MADV_DONTNEED on a private file mapping never written: the pages
		// leave the page tables, and the next touch maps the file's page
		// again.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_DONTNEED); e == 0 {
			dropped += r.rss
		}
	}
	return dropped
}
