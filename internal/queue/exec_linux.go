package queue

import (
	"os"
	"syscall"
	"unsafe"
)

// procAttr gives a job's process a process group of its own, and asks the
// kernel for a pidfd of it in *pidfd (-1 where there is none).
func procAttr(pidfd *int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, PidFD: pidfd}
}

// awaitExit returns once the process of pidfd has exited (at once for -1),
// and closes pidfd. It waits in Go's poller, as for a pipe, rather than in
// a blocking waitid(2) as exec.Cmd.Wait does: there, a job's whole run
// holds an OS thread in a system call, whose processor the runtime's
// monitor takes back and hands to another thread, and the waiting thread
// must get one back when the job ends. A third fewer context switches a
// job, and about a fifth less of the worker's CPU spent on each job's
// process (BenchmarkExecutorRun; docs/performance.md, "jobq's own CPU per
// job"). It leaves the process to be reaped by Wait (WNOWAIT), which then
// returns at once.
func awaitExit(pidfd int) {
	if pidfd < 0 {
		return
	}
	if err := syscall.SetNonblock(pidfd, true); err != nil {
		syscall.Close(pidfd)
		return
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// siginfo_t: si_pid follows three ints, aligned to a pointer; the
	// kernel leaves it 0 while the process runs.
	const pidAt = 3*4 + (unsafe.Sizeof(uintptr(0))/4-1)*4
	const pPIDFD, wNoHang, wExited, wNoWait = 3, 0x1, 0x4, 0x01000000
	_ = rc.Read(func(fd uintptr) bool {
		for {
			var info [128]byte
			_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPIDFD, fd,
				uintptr(unsafe.Pointer(&info[0])), wExited|wNoHang|wNoWait, 0, 0)
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // running: wait until the pidfd is readable
			case 0:
				return *(*int32)(unsafe.Pointer(&info[pidAt])) != 0
			}
			return true // any other error: Wait will say it
		}
	})
}
