//go:build !linux

package queue

import "syscall"

// procAttr gives a job's process a process group of its own; *pidfd stays
// -1: pidfds are Linux's.
func procAttr(pidfd *int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// awaitExit does nothing here: Wait waits for the process.
func awaitExit(int) {}
