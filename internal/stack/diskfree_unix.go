//go:build unix

package stack

import "github.com/janhq/jan/internal/diskfree"

// DiskFree is the free space under path (the engine's root dir when it is
// on this machine); ok=false when path is not here to measure.
func DiskFree(path string) (free uint64, ok bool) { return diskfree.Free(path) }
