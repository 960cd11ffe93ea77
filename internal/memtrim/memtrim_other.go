//go:build !linux

package memtrim

func dropExecutablePages() int64 { return 0 }
