//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package queue

import (
	"os"
	"syscall"
	"unsafe"
)

// sysPidfdOpen is pidfd_open(2)'s number on every architecture but MIPS
// (left to exec_other.go's Wait), which the frozen syscall package does
// not name; this package uses the standard library only.
const sysPidfdOpen = 434

// awaitExit returns once process pid, a child not reaped yet, has exited,
// or at once where it cannot watch it: Wait then waits. It waits in Go's
// poller, as for a pipe, rather than in a blocking waitid(2) as
// exec.Cmd.Wait does: there, a job's whole run holds an OS thread in a
// system call, whose processor the runtime's monitor takes back and hands
// to another thread, and the waiting thread must get one back when the job
// ends. A third fewer context switches a job, and about a fifth less of the
// worker's CPU spent on each job's process (BenchmarkExecutorRun;
// docs/performance.md, "jobq's own CPU per job"). It leaves the process to
// be reaped by Wait, which then returns at once.
//
// The pidfd it polls is its own (pidfd_open), not the one os keeps for
// Wait: a duplicate of that would share its open file description, and so
// its O_NONBLOCK, and Wait's waitid would then fail with EAGAIN on a
// process still running whenever the poll here gave up early.
func awaitExit(pid int) {
	f := openPidfd(pid)
	if f == nil {
		return
	}
	defer f.Close()
	_ = pollExit(f)
}

// openPidfd opens a non-blocking pidfd of process pid, nil where the kernel
// gives none (before Linux 5.10, or out of descriptors).
func openPidfd(pid int) *os.File {
	// PIDFD_NONBLOCK is O_NONBLOCK.
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), syscall.O_NONBLOCK, 0)
	if errno != 0 {
		return nil
	}
	return os.NewFile(fd, "pidfd")
}

// pollExit returns nil once the process of pidfd f has exited, or an error
// if it cannot wait for that in the poller (e.g. the poller refused the
// descriptor, or f was closed).
func pollExit(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool {
		// A pidfd is readable once its process has exited: ppoll(2) with
		// a zero timeout asks without waiting.
		pfd := struct {
			fd              int32
			events, revents int16
		}{fd: int32(fd), events: pollIn}
		var now syscall.Timespec
		for {
			n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
				uintptr(unsafe.Pointer(&now)), 0, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			return errno != 0 || n > 0 // on an error, Wait waits
		}
	})
}

const pollIn = 0x1 // POLLIN
