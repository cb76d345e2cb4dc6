package faulttest

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestConcurrentEnqueue runs 40 jobq enqueue processes at once while two
// workers claim and finish jobs on the same database: every enqueue must
// get through the write lock (busy timeout, not exit 75), print an ID no
// other printed, and every job must run exactly once.
func TestConcurrentEnqueue(t *testing.T) {
	t.Parallel()
	const enqueues = 40
	// Forty processes queue for the write lock, so a claim may wait
	// seconds for it, and its lease, counted from before the wait, may
	// have run out when it commits: with the faults' 2s lease another
	// worker then takes the job back, as it should. Leases are not what
	// this test is about: give them the default's room.
	q := setup(t, "JOBQ_WORK_LEASE=30s")
	ws := []*worker{q.startWorker("w1", "-c", "2"), q.startWorker("w2", "-c", "2")}

	results := make([]result, enqueues)
	errs := make([]error, enqueues)
	parallel(enqueues, func(i int) {
		results[i], errs[i] = q.run("", "enqueue", q.logLine()+"; : "+q.marker)
	})

	isID := regexp.MustCompile(`^[0-9]+\n$`)
	var ids []int64
	var args []string
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("enqueue %d: %v", i, errs[i])
		}
		if r.code != 0 || !isID.MatchString(r.stdout) {
			t.Fatalf("enqueue %d: exit %d, stdout %q, stderr %q; want exit 0 and an ID", i, r.code, r.stdout, r.stderr)
		}
		id, _ := strconv.ParseInt(r.stdout[:len(r.stdout)-1], 10, 64)
		ids = append(ids, id)
		args = append(args, strconv.FormatInt(id, 10))
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != enqueues {
		t.Fatalf("enqueue printed IDs %v: not %d different ones", ids, enqueues)
	}

	if r := q.jobq("", append(append([]string{"wait"}, args...), "--timeout", "60s")...); r.code != 0 {
		t.Fatalf("jobq wait: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, w := range ws {
		w.stop(30 * time.Second)
	}

	runs := q.executions()
	for _, id := range ids {
		if got := runs[id]; !slices.Equal(got, []int{1}) {
			t.Errorf("job %d started as attempts %v, want once as attempt 1", id, got)
		}
	}
	if len(runs) != enqueues {
		t.Errorf("%d jobs ran, want the %d enqueued", len(runs), enqueues)
	}
	jobs := q.list()
	for _, j := range jobs {
		if j.State != "succeeded" || j.Attempts != 1 {
			t.Errorf("job %d: %s after %d attempts, want succeeded after 1", j.ID, j.State, j.Attempts)
		}
	}
	if len(jobs) != enqueues {
		t.Errorf("%d jobs in the queue, want %d", len(jobs), enqueues)
	}
	q.checkIntegrity()
}
