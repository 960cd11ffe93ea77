//go:build !unix && !windows

package diskfree

// Free cannot be measured here: ok is false.
func Free(string) (uint64, bool) { return 0, false }
