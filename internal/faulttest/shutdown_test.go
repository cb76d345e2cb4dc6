package faulttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSIGTERMHandsJobsBack sends SIGTERM to a worker running two long
// jobs, each with a child in the background, and holding a third job
// back (-c 2). The worker claims nothing more, waits its --grace, kills
// the jobs' process groups, hands the jobs back as pending with no
// attempt used, and exits 0, long before the jobs would have ended.
func TestSIGTERMHandsJobsBack(t *testing.T) {
	t.Parallel()
	q := setup(t, "JOBQ_WORK_KILL_GRACE=1s")
	sleep := q.uniqueSleep(61)
	var ids []int64
	for range 3 {
		ids = append(ids, q.enqueue(fmt.Sprintf(`%s; sleep %s & sleep %s; : %s`, q.logLine(), sleep, sleep, q.marker)))
	}
	w := q.startWorker("w", "-c", "2", "--grace", "1s")
	waitFor(t, 30*time.Second, "two jobs started", func() bool { return len(q.executions()) == 2 })

	w.stop(30 * time.Second) // the jobs would run for a minute
	if pids := marked(sleep); len(pids) > 0 {
		t.Errorf("processes of the stopped jobs survive the worker:%s", describe(pids))
	}
	if out := w.output(); !strings.Contains(out, "handed_back=2") {
		t.Errorf("the worker did not report two jobs handed back:\n%s", out)
	}

	runs := q.executions()
	for _, j := range q.list() {
		if j.State != "pending" || j.Attempts != 0 {
			t.Errorf("job %d: %s after %d attempts, want pending after 0", j.ID, j.State, j.Attempts)
		}
		h := q.show(j.ID).History
		switch started := runs[j.ID]; {
		case slices.Equal(started, []int{1}):
			if len(h) != 1 || h[0].Error == nil || *h[0].Error != "worker shutting down" {
				t.Errorf("job %d: history %v, want one attempt stopped as \"worker shutting down\"", j.ID, h)
			}
		case started == nil:
			if len(h) != 0 {
				t.Errorf("job %d never started, but has history %v", j.ID, h)
			}
		default:
			t.Errorf("job %d started as attempts %v, want at most once as attempt 1", j.ID, started)
		}
	}
	q.checkIntegrity()
}

// TestSIGTERMAfterJobExited stops a worker just after its job exited 0,
// while the worker still reads the last of the job's output, which a
// background process of the job holds open (it does for up to a second
// after the exit). The job ended by itself: it succeeded, and must not be
// handed back to run a second time.
func TestSIGTERMAfterJobExited(t *testing.T) {
	t.Parallel()
	q := setup(t)
	sleep := q.uniqueSleep(61)
	id := q.enqueue(fmt.Sprintf(`sleep %s & %s; : %s`, sleep, q.logLine(), q.marker))
	w := q.startWorker("w", "--grace", "100ms")
	waitFor(t, 30*time.Second, "the job ran", func() bool { return len(q.executions()) == 1 })
	w.stop(30 * time.Second)

	if j := q.show(id); j.State != "succeeded" || len(j.History) != 1 {
		t.Errorf("job %d: %s after %d attempts, history %v; want succeeded after one attempt", id, j.State, j.Attempts, j.History)
	}
}
