//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package queue

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startHeld starts a process, in a group of its own as Run does, that
// exits with status 7 once the file the returned function makes exists.
func startHeld(t *testing.T) (*exec.Cmd, func()) {
	t.Helper()
	release := filepath.Join(t.TempDir(), "release")
	cmd := exec.Command("/bin/sh", "-c", `while [ ! -e "$1" ]; do sleep 0.01; done; exit 7`, "sh", release)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd.Process.Pid)
	return cmd, func() {
		if err := os.WriteFile(release, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// wantExit7 checks that Wait reaped the process and got its exit status.
func wantExit7(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Wait()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
		t.Errorf("Wait: %v, want exit status 7", err)
	}
}

// awaitExit returns once the process has exited, not before, and leaves it
// to Wait, which still gets its exit status.
func TestAwaitExit(t *testing.T) {
	skipWithoutPidfd(t)
	cmd, release := startHeld(t)
	done := make(chan struct{})
	go func() { defer close(done); awaitExit(cmd.Process.Pid) }()
	select {
	case <-done:
		t.Fatal("awaitExit returned before the process exited")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	awaited(t, done)
	wantExit7(t, cmd)
}

// The pidfd awaitExit polls, non-blocking, is not the one os keeps for
// Wait: had it the same open file description (a dup of os's), Wait's
// waitid would share its O_NONBLOCK and fail with EAGAIN on a process
// still running, whenever awaitExit gave up early.
func TestAwaitExitLeavesWaitsPidfdBlocking(t *testing.T) {
	skipWithoutPidfd(t)
	cmd, release := startHeld(t)
	done := make(chan struct{})
	go func() { defer close(done); awaitExit(cmd.Process.Pid) }()
	deadline := time.Now().Add(runLimit)
	for {
		nonblocking, blocking := pidfdFlags(t, cmd.Process.Pid)
		if nonblocking > 0 { // awaitExit's is open
			if blocking == 0 {
				t.Errorf("%d non-blocking pidfds of the job and no blocking one: os's pidfd for Wait was made non-blocking", nonblocking)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no non-blocking pidfd of the job: awaitExit watches nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	awaited(t, done)
	wantExit7(t, cmd)
}

// pidfdFlags counts this process's pidfds of pid, non-blocking and not.
func pidfdFlags(t *testing.T, pid int) (nonblocking, blocking int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Skip("no /proc/self/fdinfo:", err)
	}
	for _, ent := range ents {
		info, err := os.ReadFile("/proc/self/fdinfo/" + ent.Name())
		if err != nil || !strings.Contains(string(info), "\nPid:\t"+strconv.Itoa(pid)+"\n") {
			continue
		}
		for line := range strings.Lines(string(info)) {
			if octal, ok := strings.CutPrefix(line, "flags:\t"); ok {
				flags, err := strconv.ParseUint(strings.TrimSpace(octal), 8, 64)
				if err != nil {
					t.Fatalf("fdinfo %s: %q", ent.Name(), line)
				}
				if flags&syscall.O_NONBLOCK != 0 {
					nonblocking++
				} else {
					blocking++
				}
			}
		}
	}
	return nonblocking, blocking
}

// When awaitExit's poll gives up before the process exits (the poller
// refuses the descriptor, or here the descriptor is closed under it), Wait
// still waits for the process, reaps it and gets its exit status.
func TestWaitAfterPollGivesUp(t *testing.T) {
	cmd, release := startHeld(t)
	f := openPidfd(cmd.Process.Pid)
	if f == nil {
		t.Skip("the kernel gives no pidfd: awaitExit does nothing here")
	}
	polled := make(chan error, 1)
	go func() { polled <- pollExit(f) }()
	time.Sleep(50 * time.Millisecond) // pollExit waits in the poller
	f.Close()
	select {
	case err := <-polled:
		if err == nil {
			t.Fatal("pollExit returned nil before the process exited")
		}
	case <-time.After(runLimit):
		t.Fatal("pollExit went on waiting on a closed pidfd")
	}
	release()
	wantExit7(t, cmd)
}

// skipWithoutPidfd skips a test of awaitExit's poll where the kernel gives
// no pidfd (pidfd_open with PIDFD_NONBLOCK needs Linux 5.10; seccomp may
// refuse it): awaitExit then does nothing, and Wait waits.
func skipWithoutPidfd(t *testing.T) {
	t.Helper()
	f := openPidfd(os.Getpid())
	if f == nil {
		t.Skip("the kernel gives no non-blocking pidfd: awaitExit does nothing here")
	}
	f.Close()
}

// awaited waits for awaitExit's goroutine to close done once the process
// has exited, and fails the test if it does not.
func awaited(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(runLimit):
		t.Fatal("awaitExit did not return once the process exited")
	}
}
