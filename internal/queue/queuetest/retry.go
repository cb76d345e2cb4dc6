package queuetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Retrying jobs: a fresh budget, the history kept, what may not be retried.
var retryTests = []suiteTest{
	{"Retry", testRetry},
	{"RetryDryRun", testRetryDryRun},
	{"RetryByFilter", testRetryByFilter},
	{"RetryUniqueKey", testRetryUniqueKey},
	{"RetryDependencies", testRetryDependencies},
	{"RetryDeletedDependency", testRetryDeletedDependency},
}

// die records the end of a job claimed in its own queue q: dead at now
// with exit code code (or killed by signal when code is 0) and error text.
func die(t *testing.T, s queue.Store, now time.Time, q string, code int, signal, text string) *queue.Job {
	t.Helper()
	j := claimOne(t, s, now, q)
	p := queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: j.Attempts,
		FinishedAt: now, Signal: signal, Error: text}
	if code != 0 {
		p.ExitCode = intp(code)
	}
	finish(t, s, now, p)
	return j
}

// retry retries and fails the test on an error.
func retry(t *testing.T, s queue.Store, p queue.JobRetryParams) []queue.JobRetryResult {
	t.Helper()
	res, err := s.JobRetry(t.Context(), p)
	if err != nil {
		t.Fatalf("JobRetry(%+v): %v", p, err)
	}
	return res
}

// A retried job is pending again with a fresh attempt budget and nothing
// of its last end, and keeps its history; jobs that run or have yet to
// run are left as they are, and say why.
func testRetry(t *testing.T, s queue.Store) {
	dead := insertOne(t, s, newJob("dead"))
	pending := insertOne(t, s, newJob("pending"))
	running := insertOne(t, s, newJob("running"))
	die(t, s, t0, "dead", 3, "", "exit status 3")
	claimOne(t, s, t0, "running")
	before := get(t, s, dead)
	t1 := t0.Add(time.Minute)

	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{pending, dead, 999999, running, dead}, Now: t1}})
	if len(res) != 5 {
		t.Fatalf("JobRetry of 5 IDs gave %d results: %+v", len(res), res)
	}
	for i, want := range []struct {
		id     int64
		state  queue.State
		reason string
	}{
		{pending, "", "pending"},
		{dead, queue.StatePending, ""},
		{999999, "", "not found"},
		{running, "", "running"},
		{dead, queue.StatePending, ""},
	} {
		r := res[i]
		if r.ID != want.id || r.State != want.state || !strings.Contains(r.Reason, want.reason) || (want.reason == "") != (r.Reason == "") {
			t.Errorf("result %d: %+v; want job %d to %q, reason about %q", i, r, want.id, want.state, want.reason)
		}
		if (r.Job == nil) != (want.id == 999999) || r.Job != nil && r.Job.ID != r.ID {
			t.Errorf("result %d: job %+v for ID %d", i, r.Job, r.ID)
		}
	}
	if res[1].Job.State != queue.StateDead {
		t.Errorf("result's job is %s; want the job as it was, dead", res[1].Job.State)
	}

	j := get(t, s, dead)
	if j.State != queue.StatePending || j.Attempts != 0 || !j.RunAt.Equal(t1) || !j.FinishedAt.IsZero() ||
		j.ExitCode != nil || j.LastError != "" || j.Worker != "" {
		t.Errorf("retried job: %+v; want pending at %v, 0 attempts, no end", j, t1)
	}
	if j.MaxAttempts != before.MaxAttempts || j.Command != before.Command || j.Run != before.Run {
		t.Errorf("retried job changed: %+v, was %+v", j, before)
	}
	if as := attempts(t, s, dead); len(as) != 1 || as[0].ExitCode == nil || *as[0].ExitCode != 3 {
		t.Errorf("history after retry: %+v; want the one failed attempt kept", as)
	}
	for id, st := range map[int64]queue.State{pending: queue.StatePending, running: queue.StateRunning} {
		if got := get(t, s, id).State; got != st {
			t.Errorf("job %d is %s after a refused retry, want %s", id, got, st)
		}
	}
	// It runs again as attempt 1, its second run.
	again := claimOne(t, s, t1, "dead")
	if again.Attempts != 1 || again.Run != 2 {
		t.Errorf("claimed again as attempt %d, run %d; want 1 and 2", again.Attempts, again.Run)
	}
	// Users see one numbering, the run's, never reset: in the history
	// and in the log.
	if as := attempts(t, s, dead); len(as) != 2 || as[0].Attempt != 1 || as[1].Attempt != 2 {
		t.Errorf("history %+v, want attempts 1 and 2", as)
	}
	if events, err := s.EventList(t.Context(), queue.EventListParams{JobID: dead, Last: 1}); err != nil || len(events) != 1 ||
		events[0].To != queue.StateRunning || events[0].Attempt != 2 {
		t.Errorf("last event of the job run again: %+v, %v; want running, attempt 2", events, err)
	}
	checkCounts(t, s, t1)
}

// A dry run reports what a retry would do and writes nothing.
func testRetryDryRun(t *testing.T, s queue.Store) {
	a := insertOne(t, s, withKey(newJob("a"), "k"))
	b := insertOne(t, s, withKey(newJob("b"), "k2"))
	die(t, s, t0, "a", 1, "", "exit status 1")
	die(t, s, t0, "b", 1, "", "exit status 1")
	insertOne(t, s, withKey(newJob("c"), "k2")) // holds b's key
	beforeA, beforeB := get(t, s, a), get(t, s, b)

	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{States: []queue.State{queue.StateDead}, Now: t0}, DryRun: true})
	if len(res) != 2 || res[0].ID != a || res[0].State != queue.StatePending || res[1].ID != b || res[1].State != "" || res[1].Reason == "" {
		t.Errorf("dry run: %+v; want %d to pending and %d refused for its key", res, a, b)
	}
	checkJob(t, get(t, s, a), beforeA)
	checkJob(t, get(t, s, b), beforeB)
	checkCounts(t, s, t0)
}

// A retry by filter takes exactly the jobs the filter selects, in ID
// order: a wave of failures of one queue and exit code, say.
func testRetryByFilter(t *testing.T, s queue.Store) {
	var wave []int64
	for range 3 {
		wave = append(wave, insertOne(t, s, newJob("mail")))
		die(t, s, t0, "mail", 75, "", "exit status 75")
	}
	other := insertOne(t, s, newJob("mail"))
	die(t, s, t0, "mail", 1, "", "exit status 1")
	elsewhere := insertOne(t, s, newJob("web"))
	die(t, s, t0, "web", 75, "", "exit status 75")

	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{
		States: []queue.State{queue.StateDead}, Queues: []string{"mail"}, ExitCodes: []int{75}, Now: t0,
	}})
	var got []int64
	for _, r := range res {
		if r.State != queue.StatePending {
			t.Errorf("job %d: %+v; want pending", r.ID, r)
		}
		got = append(got, r.ID)
	}
	if !slices.Equal(got, wave) {
		t.Errorf("retried %v, want %v", got, wave)
	}
	for _, id := range []int64{other, elsewhere} {
		if st := get(t, s, id).State; st != queue.StateDead {
			t.Errorf("job %d outside the filter is %s, want dead", id, st)
		}
	}
	checkCounts(t, s, t0)
}

// A retried job takes its unique key back only if no job not yet final
// holds it; of two dead jobs with one key, the first retried gets it.
func testRetryUniqueKey(t *testing.T, s queue.Store) {
	first := insertOne(t, s, withKey(newJob("k"), "nightly"))
	die(t, s, t0, "k", 1, "", "exit status 1")
	second := insertOne(t, s, withKey(newJob("k"), "nightly"))
	die(t, s, t0, "k", 1, "", "exit status 1")
	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{second, first}, Now: t0}})
	if res[0].State != queue.StatePending || res[1].State != "" || !names(res[1].Reason, second) {
		t.Errorf("retry of two dead jobs with one key: %+v; want the first named retried, the other told %d holds it", res, second)
	}
	if id := insertOne(t, s, withKey(newJob("k"), "nightly")); id != second {
		t.Errorf("enqueue with the key of retried job %d gave %d", second, id)
	}
}

// A retried job waits while one of its dependencies has not succeeded,
// and runs once they have. One whose dependency ended dead or cancelled
// is refused, saying which, as an enqueue --after such a job is cancelled
// at once, unless the dependency is retried in the same call, named before
// or after it: it then waits for it.
func testRetryDependencies(t *testing.T, s queue.Store) {
	dep := insertOne(t, s, newJob("dep"))
	child := insertOne(t, s, after(newJob("child"), dep))
	die(t, s, t0, "dep", 1, "", "exit status 1")
	if st := get(t, s, child).State; st != queue.StateCancelled {
		t.Fatalf("child of a dead job is %s, want cancelled", st)
	}
	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{child}, Now: t0}})
	if res[0].State != "" || res[0].Reason != fmt.Sprintf("dependency %d is dead", dep) {
		t.Errorf("child retried while its dependency is dead: %+v; want refused: dependency %d is dead", res[0], dep)
	}
	if st := get(t, s, child).State; st != queue.StateCancelled {
		t.Errorf("refused child is %s, want still cancelled", st)
	}
	for _, dryRun := range []bool{true, false} {
		res = retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{child, dep}, Now: t0}, DryRun: dryRun})
		if res[0].State != queue.StateWaiting || res[1].State != queue.StatePending {
			t.Errorf("retry of the child and its dependency (dry run %v): %+v; want waiting and pending", dryRun, res)
		}
	}
	succeed(t, s, t0, "dep")
	if st := get(t, s, child).State; st != queue.StatePending {
		t.Errorf("child after its retried dependency succeeded: %s, want pending", st)
	}

	// A chain retried by filter: each waits for the one before.
	a := insertOne(t, s, newJob("a"))
	b := insertOne(t, s, after(newJob("b"), a))
	c := insertOne(t, s, after(newJob("c"), b))
	die(t, s, t0, "a", 1, "", "exit status 1")
	res = retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{
		States: []queue.State{queue.StateDead, queue.StateCancelled}, Queues: []string{"a", "b", "c"}, Now: t0}})
	want := []queue.JobRetryResult{{ID: a, State: queue.StatePending}, {ID: b, State: queue.StateWaiting}, {ID: c, State: queue.StateWaiting}}
	if len(res) != 3 {
		t.Fatalf("retry of the chain: %+v, want %+v", res, want)
	}
	for i := range want {
		if res[i].ID != want[i].ID || res[i].State != want[i].State {
			t.Errorf("retry of the chain: %+v, want %+v", res[i], want[i])
		}
	}
	// A dependency still running or pending is no obstacle: the job waits.
	d := insertOne(t, s, after(newJob("d"), a))
	cancel(t, s, t0, d)
	if res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{d}, Now: t0}}); res[0].State != queue.StateWaiting {
		t.Errorf("retry of a job whose dependency is pending: %+v, want waiting", res[0])
	}
	checkCounts(t, s, t0)
}

// A dependency deleted before it succeeded (jobq purge) cancels the jobs
// waiting for it, and a retry of such a job is refused, saying so: nothing
// would ever release it, and retrying in the same call cannot bring the
// dependency back. One deleted once it had succeeded (retention) released
// its dependents when it succeeded: a retry of one of them does not wait
// for it.
func testRetryDeletedDependency(t *testing.T, s queue.Store) {
	later := newJob("later")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Hour)
	dep := insertOne(t, s, later)
	child := insertOne(t, s, after(newJob("child"), dep))
	if n, err := s.JobDelete(t.Context(), queue.JobFilter{States: []queue.State{queue.StateScheduled}, Now: t0}); err != nil || n != 1 {
		t.Fatalf("JobDelete(scheduled) = %d, %v; want 1", n, err)
	}
	if j := get(t, s, child); j.State != queue.StateCancelled || j.LastError != fmt.Sprintf("dependency %d was deleted", dep) {
		t.Fatalf("child of a deleted scheduled job: %s, %q; want cancelled, dependency %d was deleted", j.State, j.LastError, dep)
	}
	for _, ids := range [][]int64{{child}, {child, dep}, {dep, child}} {
		res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: ids, Now: t0}})
		r := res[slices.Index(ids, child)]
		if r.State != "" || r.Reason != fmt.Sprintf("dependency %d was deleted", dep) {
			t.Errorf("retry %v: %+v for the child; want it refused: dependency %d was deleted", ids, r, dep)
		}
	}
	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{States: []queue.State{queue.StateCancelled}, Now: t0}})
	if len(res) != 1 || res[0].State != "" || !names(res[0].Reason, dep) {
		t.Errorf("retry by filter: %+v; want the child refused, naming %d", res, dep)
	}
	if st := get(t, s, child).State; st != queue.StateCancelled {
		t.Errorf("refused child is %s, want still cancelled", st)
	}

	// Deleted once it succeeded: the dependent ran, ended, and may run again.
	done := insertOne(t, s, newJob("done"))
	next := insertOne(t, s, after(newJob("next"), done))
	succeed(t, s, t0, "done")
	fail(t, s, t0, "next")
	if n, err := s.JobDelete(t.Context(), queue.JobFilter{IDs: []int64{done}, Now: t0}); err != nil || n != 1 {
		t.Fatalf("JobDelete(%d) = %d, %v; want 1", done, n, err)
	}
	res = retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{next}, Now: t0}})
	if res[0].State != queue.StatePending {
		t.Errorf("retry of a job whose dependency succeeded, then was deleted: %+v; want pending", res[0])
	}
	checkCounts(t, s, t0)
}
