//go:build windows

package store

import "golang.org/x/sys/windows"

// diskFree is the space the caller may still use on the volume holding
// dir, in bytes.
func diskFree(dir string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0, err
	}
	return free, nil
}
