package faulttest

import (
	"fmt"
	"testing"
	"time"
)

// TestTimeoutKillsTermIgnoringJob runs a job whose shell and children
// ignore SIGTERM (an ignored signal stays ignored across fork and exec),
// and whose background child also holds the job's stdout. At its timeout
// the worker sends SIGTERM to the job's process group, which nothing
// heeds, then SIGKILL after the kill grace: no process of the job may
// survive, and the worker must not hang on the open stdout.
func TestTimeoutKillsTermIgnoringJob(t *testing.T) {
	t.Parallel()
	q := setup(t, "JOBQ_WORK_KILL_GRACE=1s")
	sleep := q.uniqueSleep(61)
	id := q.enqueue(fmt.Sprintf(`trap '' TERM; %s; sleep %s & sleep %s; : %s`, q.logLine(), sleep, sleep, q.marker),
		"--timeout", "1s", "--max-attempts", "1")
	w := q.startWorker("w")

	if r := q.jobq("", "wait", fmt.Sprint(id), "--timeout", "30s"); r.code != 1 {
		t.Fatalf("jobq wait %d: exit %d, want 1 (dead)\nstderr: %s", id, r.code, r.stderr)
	}
	// The outcome is recorded only once the process group is gone.
	if pids := marked(sleep); len(pids) > 0 {
		t.Errorf("processes of the timed-out job survive:%s", describe(pids))
	}
	w.stop(30 * time.Second)

	j := q.show(id)
	if j.State != "dead" || len(j.History) != 1 {
		t.Fatalf("job %d: %s, history %v; want dead after one attempt", id, j.State, j.History)
	}
	a := j.History[0]
	if a.Error == nil || *a.Error != "timed out after 1s" || a.Signal == nil || *a.Signal != "SIGKILL" {
		t.Errorf("attempt %v, want timed out after 1s, killed by SIGKILL", a)
	}
	// SIGKILL came only after the timeout and the kill grace, as it must
	// (a lower bound, not a test of speed).
	if a.StartedAt == nil || a.FinishedAt == nil || a.FinishedAt.Sub(*a.StartedAt) < 1900*time.Millisecond {
		t.Errorf("attempt ran from %v to %v: less than timeout 1s plus kill grace 1s", a.StartedAt, a.FinishedAt)
	}
}

// TestDaemonDoesNotHoldWorker runs a job that starts a background process
// holding its stdout and exits 0 at once. The job succeeds without
// waiting for the background process, and the worker goes on to the next
// job. The background process is left running: jobq documents that only
// a timeout or a stop kills a job's process group (docs/cli.md).
func TestDaemonDoesNotHoldWorker(t *testing.T) {
	t.Parallel()
	q := setup(t)
	sleep := q.uniqueSleep(61)
	daemon := q.enqueue(fmt.Sprintf(`sleep %s & echo hi; : %s`, sleep, q.marker), "--max-attempts", "1")
	next := q.enqueue(q.logLine(), "--max-attempts", "1")
	w := q.startWorker("w", "-c", "1")

	if r := q.jobq("", "wait", fmt.Sprint(daemon), fmt.Sprint(next), "--timeout", "30s"); r.code != 0 {
		t.Fatalf("jobq wait: exit %d, want 0\nstderr: %s", r.code, r.stderr)
	}
	if len(marked(sleep)) == 0 {
		t.Errorf("the job's background sleep %s is gone: this test no longer holds the job's stdout open", sleep)
	}
	w.stop(30 * time.Second)
	j := q.show(daemon)
	if j.State != "succeeded" || len(j.History) != 1 || j.History[0].Output != "hi\n" {
		t.Errorf("job %d: %s, history %v; want succeeded after one attempt with output \"hi\\n\"", daemon, j.State, j.History)
	}
}

// TestDaemonWithinTimeoutSucceeds: a job that exits 0 at once, leaving a
// background process that holds its stdout, succeeds even when its
// timeout passes while the worker still reads the last of its output (it
// does for up to a second after the exit). The command ended by itself
// well within its timeout, and a succeeded command's left-behind process
// is not killed (docs/cli.md).
func TestDaemonWithinTimeoutSucceeds(t *testing.T) {
	t.Parallel()
	q := setup(t)
	sleep := q.uniqueSleep(61)
	id := q.enqueue(fmt.Sprintf(`sleep %s & echo hi; : %s`, sleep, q.marker), "--timeout", "500ms", "--max-attempts", "1")
	w := q.startWorker("w")

	r := q.jobq("", "wait", fmt.Sprint(id), "--timeout", "30s")
	w.stop(30 * time.Second)
	j := q.show(id)
	if r.code != 0 || len(j.History) != 1 {
		t.Fatalf("job %d: %s, history %v; want succeeded after one attempt", id, j.State, j.History)
	}
	if a := j.History[0]; a.ExitCode == nil || *a.ExitCode != 0 || a.Error != nil || a.Output != "hi\n" {
		t.Errorf("attempt %v, output %q; want exit 0 with no error and output \"hi\\n\"", a, a.Output)
	}
	if len(marked(sleep)) == 0 {
		t.Errorf("the background sleep of a job that succeeded was killed")
	}
}
