package queue

import (
	"os/exec"
	"testing"
	"time"
)

// awaitExit returns once the process has exited, not before, and leaves it
// to Wait, which still gets its exit status.
func TestAwaitExit(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.2; exit 7")
	pidfd := -1
	cmd.SysProcAttr = procAttr(&pidfd)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if pidfd < 0 {
		t.Skip("the kernel gave no pidfd: awaitExit does nothing here")
	}
	awaitExit(pidfd)
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("awaitExit returned after %v, before the process exited", waited)
	}
	err := cmd.Wait()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
		t.Errorf("Wait after awaitExit: %v, want exit status 7", err)
	}
}
