package bench

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// selfCPU waits for process pid to exit, without reaping it, and returns
// the user+sys CPU of the process itself, children excluded.
func selfCPU(pid int) (time.Duration, error) {
	var info [128]byte // siginfo_t
	const pPID, wExited, wNoWait = 1, 4, 0x01000000
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		break
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid ...": utime and stime are fields 14 and 15,
	// in clock ticks (100 a second on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, syscall.EINVAL
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// runCPU runs cmd with stdin from the file stdin ("" for /dev/null), its
// standard output discarded and its stderr kept for a failure, and returns
// its wall time from start to exit and the CPU it used itself (selfCPU).
func (w *workspace) runCPU(cmd *exec.Cmd, stdin string) (wall, cpu time.Duration) {
	w.tb.Helper()
	errF, err := os.CreateTemp(w.dir, "stderr-")
	if err != nil {
		w.tb.Fatal(err)
	}
	defer os.Remove(errF.Name())
	defer errF.Close()
	cmd.Stderr = errF
	if stdin != "" {
		in, err := os.Open(stdin)
		if err != nil {
			w.tb.Fatal(err)
		}
		defer in.Close()
		cmd.Stdin = in
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		w.tb.Fatal(err)
	}
	cpu, cpuErr := selfCPU(cmd.Process.Pid)
	wall = time.Since(start)
	if err := cmd.Wait(); err != nil || cpuErr != nil {
		errOut, _ := os.ReadFile(errF.Name())
		w.tb.Fatalf("%s: %v %v\nstderr:\n%s", strings.Join(cmd.Args, " "), err, cpuErr, tail(string(errOut), 2000))
	}
	return wall, cpu
}
