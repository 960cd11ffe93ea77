//go:build windows

package diskfree

import "golang.org/x/sys/windows"

// Free is the space the caller may still use on the volume holding path,
// in bytes; ok is false when it cannot be measured.
func Free(path string) (free uint64, ok bool) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil || path == "" {
		return 0, false
	}
	if err := windows.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0, false
	}
	return free, true
}
