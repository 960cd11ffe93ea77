//go:build unix

package stack

import "syscall"

// DiskFree is the free space under path (the engine's root dir when it is
// on this machine); ok=false when path is not here to measure.
func DiskFree(path string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if path == "" || syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
