package diskfree

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestFree(t *testing.T) {
	free, ok := Free(t.TempDir())
	if (runtime.GOOS == "linux" || runtime.GOOS == "darwin") && (!ok || free == 0) {
		t.Errorf("Free(temp dir) = %d, %v", free, ok)
	}
	if _, ok := Free(filepath.Join(t.TempDir(), "missing")); ok {
		t.Error("measured a path that does not exist")
	}
	if _, ok := Free(""); ok {
		t.Error("measured an empty path")
	}
}
