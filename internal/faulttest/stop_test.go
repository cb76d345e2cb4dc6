package faulttest

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStoppedWorkerIsFenced stops a worker with SIGSTOP past its lease
// while its job runs, as a long GC pause, a frozen VM or a stopped
// container would. Another worker takes the job back and runs it. Once
// the stale worker is continued, its heartbeat finds the lease lost and
// kills its job's process group, and the outcome it then reports is
// refused: the history keeps the first attempt as lost and the second as
// succeeded.
func TestStoppedWorkerIsFenced(t *testing.T) {
	t.Parallel()
	q := setup(t, "JOBQ_WORK_LEASE=2s")
	// The first attempt runs long; any later one ends at once.
	sleep := q.uniqueSleep(61) // marks the stale child
	id := q.enqueue(fmt.Sprintf(`%s; if [ "$JOBQ_ATTEMPT" = 1 ]; then sleep %s; fi; : %s`, q.logLine(), sleep, q.marker),
		"--max-attempts", "3", "--backoff", "0")

	stale := q.startWorker("stale")
	waitFor(t, 30*time.Second, "first attempt started", func() bool { return len(q.executions()[id]) == 1 })
	stale.signal(syscall.SIGSTOP) // SIGKILL at cleanup ends it even stopped

	fresh := q.startWorker("fresh")
	if r := q.jobq("", "wait", fmt.Sprint(id), "--timeout", "60s"); r.code != 0 {
		t.Fatalf("jobq wait %d: exit %d, stderr %s", id, r.code, r.stderr)
	}
	// The stale worker cannot stop its job while it is stopped itself.
	if pids := marked(sleep); len(pids) == 0 {
		t.Fatalf("the first attempt's sleep %s ended before the stale worker was continued", sleep)
	}

	stale.signal(syscall.SIGCONT)
	waitFor(t, 20*time.Second, "the stale worker's job killed", func() bool { return len(marked(sleep)) == 0 })
	waitFor(t, 20*time.Second, "the stale worker's outcome refused", func() bool {
		return strings.Contains(stale.output(), "outcome not recorded: lease lost")
	})
	stale.stop(30 * time.Second)
	fresh.stop(30 * time.Second)
	if out := stale.output(); !strings.Contains(out, "lease lost, stopping job") {
		t.Errorf("the stale worker did not say it stopped its job for a lost lease:\n%s", out)
	}

	j := q.show(id)
	if j.State != "succeeded" || j.Attempts != 2 || len(j.History) != 2 {
		t.Fatalf("job %d: %s after %d attempts, history %v; want succeeded after 2", id, j.State, j.Attempts, j.History)
	}
	first, second := j.History[0], j.History[1]
	if first.Worker != workerName(t, stale.pid()) || first.Error == nil || *first.Error != workerLost {
		t.Errorf("first attempt %v, want failed as %q by the stale worker (pid %d)", first, workerLost, stale.pid())
	}
	if second.Worker != workerName(t, fresh.pid()) || second.ExitCode == nil || *second.ExitCode != 0 || second.Error != nil {
		t.Errorf("second attempt %v, want exit 0 by the fresh worker (pid %d)", second, fresh.pid())
	}
	if runs := q.executions()[id]; !slices.Equal(runs, []int{1, 2}) {
		t.Errorf("job %d started as attempts %v, want [1 2]", id, runs)
	}
	q.checkIntegrity()
}

// TestStoppedWorkerSuccessRefused: while a worker is stopped past its
// lease, its job goes on and exits 0, and another worker takes the job
// back and runs it again, to a permanent failure. When the stale worker
// is continued it reports its attempt succeeded: that outcome must be
// refused, or it would overwrite the newer attempt's.
func TestStoppedWorkerSuccessRefused(t *testing.T) {
	t.Parallel()
	q := setup(t, "JOBQ_WORK_LEASE=2s")
	sleep := q.uniqueSleep(5) // past the lease and the take-back, then exit 0
	id := q.enqueue(fmt.Sprintf(`%s; if [ "$JOBQ_ATTEMPT" = 1 ]; then sleep %s; else exit 3; fi; : %s`,
		q.logLine(), sleep, q.marker), "--max-attempts", "2", "--backoff", "0")

	stale := q.startWorker("stale")
	waitFor(t, 30*time.Second, "first attempt started", func() bool { return len(q.executions()[id]) == 1 })
	stale.signal(syscall.SIGSTOP) // SIGKILL at cleanup ends it even stopped
	fresh := q.startWorker("fresh")
	if r := q.jobq("", "wait", fmt.Sprint(id), "--timeout", "60s"); r.code != 1 {
		t.Fatalf("jobq wait %d: exit %d, want 1 (dead)\nstderr: %s", id, r.code, r.stderr)
	}
	waitFor(t, 30*time.Second, "the first attempt's sleep ended", func() bool { return len(marked(sleep)) == 0 })

	stale.signal(syscall.SIGCONT)
	waitFor(t, 20*time.Second, "the stale worker's outcome refused", func() bool {
		return strings.Contains(stale.output(), "outcome not recorded: lease lost")
	})
	stale.stop(30 * time.Second)
	fresh.stop(30 * time.Second)

	j := q.show(id)
	if j.State != "dead" || j.Attempts != 2 || len(j.History) != 2 {
		t.Fatalf("job %d: %s after %d attempts, history %v; want dead after 2", id, j.State, j.Attempts, j.History)
	}
	if a := j.History[0]; a.Worker != workerName(t, stale.pid()) || a.Error == nil || *a.Error != workerLost {
		t.Errorf("first attempt %v, want failed as %q by the stale worker (pid %d)", a, workerLost, stale.pid())
	}
	if a := j.History[1]; a.Worker != workerName(t, fresh.pid()) || a.ExitCode == nil || *a.ExitCode != 3 {
		t.Errorf("second attempt %v, want exit 3 by the fresh worker (pid %d)", a, fresh.pid())
	}
}
