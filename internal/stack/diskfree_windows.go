//go:build windows

package stack

// DiskFree is not measured on Windows (the engine's disk is Docker
// Desktop's virtual machine, not here): ok is false.
func DiskFree(path string) (free uint64, ok bool) { return 0, false }
