//go:build unix

package diskfree

import "syscall"

// Free is the space an unprivileged writer may still use on the file
// system holding path, in bytes; ok is false when it cannot be measured.
func Free(path string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if path == "" || syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true //nolint:unconvert // the field types differ between systems
}
