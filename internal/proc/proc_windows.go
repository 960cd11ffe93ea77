//go:build windows

package proc

import (
	"os"
	"os/exec"
	"syscall"
)

// detach starts cmd in a process group of its own, so the console's
// Ctrl+C does not reach it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid) // opens a handle: fails when there is no such process
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}

// terminate stops pid. Windows has no SIGTERM for a process without a
// console of ours: it is ended at once.
func terminate(pid int) error { return kill(pid) }

func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return errGone
	}
	return p.Kill()
}
