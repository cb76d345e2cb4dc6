package queuetest

// What operators need of a store: jobs picked by filters, retried and
// deleted, progress reported from inside a job, per-queue statistics and
// the log of transitions.

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

var operateTests = []suiteTest{
	{"ListFilters", testListFilters},
	{"Retry", testRetry},
	{"RetryDryRun", testRetryDryRun},
	{"RetryByFilter", testRetryByFilter},
	{"RetryUniqueKey", testRetryUniqueKey},
	{"RetryDependencies", testRetryDependencies},
	{"Progress", testProgress},
	{"QueueStats", testQueueStats},
	{"QueueStatsFollowChanges", testQueueStatsFollowChanges},
	{"Events", testEvents},
	{"EventIDsNeverReused", testEventIDsNeverReused},
	{"DeleteCancelsWaiting", testDeleteCancelsWaiting},
}

// Event IDs only increase, also past the events of deleted jobs: events -f
// follows the log by ID.
func testEventIDsNeverReused(t *testing.T, s queue.Store) {
	insert(t, s, newJob("a"), newJob("b"))
	all, err := s.EventList(t.Context(), queue.EventListParams{})
	if err != nil || len(all) != 2 {
		t.Fatalf("events: %+v, %v", all, err)
	}
	if n, err := s.JobDelete(t.Context(), queue.JobFilter{Queues: []string{"b"}, Now: t0}); err != nil || n != 1 {
		t.Fatalf("JobDelete = %d, %v", n, err)
	}
	insertOne(t, s, newJob("c"))
	after, err := s.EventList(t.Context(), queue.EventListParams{AfterID: all[1].ID})
	if err != nil || len(after) != 1 {
		t.Errorf("events after %d, once the newest job was deleted and another inserted: %+v, %v; want the new job's", all[1].ID, after, err)
	}
}

// Deleting a job that others wait for cancels them, saying why, rather
// than leaving them waiting for ever; deleting one that succeeded leaves
// them waiting for the rest.
func testDeleteCancelsWaiting(t *testing.T, s queue.Store) {
	dep := insertOne(t, s, newJob("dep"))
	done := insertOne(t, s, newJob("done"))
	other := insertOne(t, s, newJob("other"))
	child := insertOne(t, s, after(newJob("child"), dep))
	second := insertOne(t, s, after(newJob("second"), done, other))
	succeed(t, s, t0, "done")
	if _, err := s.JobDelete(t.Context(), queue.JobFilter{IDs: []int64{dep, done}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if j := get(t, s, child); j.State != queue.StateCancelled || !names(j.LastError, dep) {
		t.Errorf("child of a deleted pending job: %s, %q; want cancelled, naming %d", j.State, j.LastError, dep)
	}
	if j := get(t, s, second); j.State != queue.StateWaiting {
		t.Errorf("child of a deleted succeeded job and a pending one: %s; want still waiting", j.State)
	}
	checkCounts(t, s, t0)
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

// checkCounts checks that QueueStats counts, per queue and state as users
// see it, exactly the jobs JobList returns.
func checkCounts(t *testing.T, s queue.Store, now time.Time) {
	t.Helper()
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[queue.State]int{}
	for _, j := range jobs {
		if want[j.Queue] == nil {
			want[j.Queue] = map[queue.State]int{}
		}
		want[j.Queue][j.StateAt(now)]++
	}
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: now, RecentSince: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[queue.State]int{}
	for _, q := range stats {
		if len(q.Counts) > 0 {
			got[q.Name] = q.Counts
		}
	}
	if !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("QueueStats counts %v; the jobs listed are %v", got, want)
	}
}

func testListFilters(t *testing.T, s queue.Store) {
	ids := map[string]int64{}
	for _, name := range []string{"exit2", "exit3", "killed", "timeout", "late", "pending"} {
		ids[name] = insertOne(t, s, newJob(name))
	}
	die(t, s, t0, "exit2", 2, "", "exit status 2")
	die(t, s, t0, "exit3", 3, "", "exit status 3")
	die(t, s, t0, "killed", 0, "SIGKILL", "killed by SIGKILL")
	die(t, s, t0, "timeout", 0, "SIGTERM", "timed out after 5s")
	die(t, s, t0.Add(time.Hour), "late", 2, "", "exit status 2")
	byName := func(names ...string) []int64 { return newestFirst(ids, names...) }
	for _, tt := range []struct {
		name string
		f    queue.JobFilter
		want []int64
	}{
		{"exit code", queue.JobFilter{ExitCodes: []int{2}}, byName("exit2", "late")},
		{"exit codes", queue.JobFilter{ExitCodes: []int{2, 3}}, byName("exit2", "exit3", "late")},
		{"error", queue.JobFilter{Error: "timed out"}, byName("timeout")},
		{"error is case-sensitive", queue.JobFilter{Error: "Timed out"}, nil},
		{"since", queue.JobFilter{States: []queue.State{queue.StateDead}, Since: t0.Add(time.Minute)}, byName("late")},
		{"before", queue.JobFilter{States: []queue.State{queue.StateDead}, Before: t0.Add(time.Minute)}, byName("exit2", "exit3", "killed", "timeout")},
		// A job that has not ended counts from its creation.
		{"before, any state", queue.JobFilter{Before: t0.Add(time.Minute)}, byName("exit2", "exit3", "killed", "timeout", "pending")},
		{"since and before", queue.JobFilter{Since: t0, Before: t0.Add(time.Minute), ExitCodes: []int{3}}, byName("exit3")},
		{"IDs", queue.JobFilter{IDs: []int64{ids["late"], ids["pending"], 999999}}, byName("late", "pending")},
		{"IDs and state", queue.JobFilter{IDs: []int64{ids["late"], ids["pending"]}, States: []queue.State{queue.StateDead}}, byName("late")},
	} {
		tt.f.Now = t0
		if got := list(t, s, tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: JobList = %v, want %v", tt.name, got, tt.want)
		}
		n, err := s.JobCount(t.Context(), tt.f)
		if err != nil || n != len(tt.want) {
			t.Errorf("%s: JobCount = %d, %v; want %d", tt.name, n, err, len(tt.want))
		}
		tt.f.Limit = 1
		if n, err := s.JobCount(t.Context(), tt.f); err != nil || n != len(tt.want) {
			t.Errorf("%s: JobCount with Limit 1 = %d, %v; want %d: it counts them all", tt.name, n, err, len(tt.want))
		}
	}
	// The signal that ended the last attempt is kept on the job.
	if j := get(t, s, ids["killed"]); j.Signal != "SIGKILL" || j.ExitCode != nil {
		t.Errorf("killed job: signal %q, exit code %v; want SIGKILL and none", j.Signal, showInt(j.ExitCode))
	}
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
	if as := attempts(t, s, dead); len(as) != 2 {
		t.Errorf("%d attempts in the history, want 2", len(as))
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
// and runs once they have.
func testRetryDependencies(t *testing.T, s queue.Store) {
	dep := insertOne(t, s, newJob("dep"))
	child := insertOne(t, s, after(newJob("child"), dep))
	die(t, s, t0, "dep", 1, "", "exit status 1")
	if st := get(t, s, child).State; st != queue.StateCancelled {
		t.Fatalf("child of a dead job is %s, want cancelled", st)
	}
	res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{child}, Now: t0}})
	if res[0].State != queue.StateWaiting {
		t.Errorf("child retried while its dependency is dead: %+v; want waiting", res[0])
	}
	retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{dep}, Now: t0}})
	succeed(t, s, t0, "dep")
	if st := get(t, s, child).State; st != queue.StatePending {
		t.Errorf("child after its retried dependency succeeded: %s, want pending", st)
	}
	checkCounts(t, s, t0)
}

// Progress is recorded for the attempt running, refused for any other,
// and cleared when the job runs again.
func testProgress(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("p"))
	pending := insertOne(t, s, newJob("other"))
	report := func(id int64, attempt int, pct float64) error {
		return s.JobProgress(t.Context(), queue.JobProgressParams{ID: id, Attempt: attempt, Percent: pct, Message: "copying", At: t0})
	}
	if err := report(id, 1, 10); !errors.Is(err, queue.ErrNotRunning) {
		t.Errorf("progress of a pending job: %v; want ErrNotRunning", err)
	}
	j := claimOne(t, s, t0, "p")
	if err := report(id, 1, 42.5); err != nil {
		t.Fatalf("progress: %v", err)
	}
	if p := get(t, s, id).Progress; p == nil || p.Percent != 42.5 || p.Message != "copying" || !p.At.Equal(t0) {
		t.Errorf("progress = %+v; want 42.5%% copying at t0", p)
	}
	for _, tt := range []struct {
		id      int64
		attempt int
		want    error
	}{
		{id, 2, queue.ErrNotRunning},
		{pending, 1, queue.ErrNotRunning},
		{999999, 1, queue.ErrNotFound},
	} {
		if err := report(tt.id, tt.attempt, 99); !errors.Is(err, tt.want) {
			t.Errorf("progress of job %d attempt %d: %v; want %v", tt.id, tt.attempt, err, tt.want)
		}
	}
	if p := get(t, s, id).Progress; p == nil || p.Percent != 42.5 {
		t.Errorf("a refused report changed the progress: %+v", p)
	}
	finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"})
	if p := get(t, s, id).Progress; p == nil {
		t.Errorf("progress gone when the attempt ended; want it kept until the next")
	}
	claimOne(t, s, t0, "p")
	if p := get(t, s, id).Progress; p != nil {
		t.Errorf("progress of the last attempt kept by the next: %+v", p)
	}
}

func testQueueStats(t *testing.T, s queue.Store) {
	stateFixture(t, s) // one job per queue, named after its state
	past := t0.Add(-time.Hour)
	queueSet(t, s, queue.QueueSetParams{Name: "pending", Paused: boolp(true)})
	queueSet(t, s, queue.QueueSetParams{Name: "idle", Concurrency: intp(2)})
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]queue.QueueStats{}
	var order []string
	for _, q := range stats {
		byName[q.Name] = q
		order = append(order, q.Name)
	}
	if !slices.IsSorted(order) {
		t.Errorf("queues in order %v, want by name", order)
	}
	for _, tt := range []struct {
		queue  string
		counts map[queue.State]int
		oldest time.Time
	}{
		{"pending", map[queue.State]int{queue.StatePending: 1}, past},
		{"scheduled", map[queue.State]int{queue.StateScheduled: 1}, time.Time{}},
		{"scheduled-due", map[queue.State]int{queue.StatePending: 1}, t0},
		{"running", map[queue.State]int{queue.StateRunning: 1}, time.Time{}},
		{"retrying", map[queue.State]int{queue.StateRetrying: 1}, time.Time{}},
		{"retrying-due", map[queue.State]int{queue.StatePending: 1}, t0},
		{"succeeded", map[queue.State]int{queue.StateSucceeded: 1}, time.Time{}},
		{"dead", map[queue.State]int{queue.StateDead: 1}, time.Time{}},
		{"idle", map[queue.State]int{}, time.Time{}},
	} {
		q, ok := byName[tt.queue]
		if !ok {
			t.Errorf("queue %s missing from %v", tt.queue, order)
			continue
		}
		if !maps.Equal(q.Counts, tt.counts) || !sameTime(q.OldestReady, tt.oldest) {
			t.Errorf("queue %s: counts %v, oldest ready %v; want %v, %v", tt.queue, q.Counts, q.OldestReady, tt.counts, tt.oldest)
		}
	}
	if q := byName["pending"]; !q.Paused {
		t.Errorf("queue pending is not shown paused: %+v", q)
	}
	if q := byName["idle"]; q.Concurrency != 2 {
		t.Errorf("queue idle: concurrency %d, want 2", q.Concurrency)
	}
	if s, d := byName["succeeded"], byName["dead"]; s.RecentSucceeded != 1 || s.RecentDead != 0 || d.RecentDead != 1 || d.RecentSucceeded != 0 {
		t.Errorf("ended since a minute ago: succeeded queue %d/%d, dead queue %d/%d; want 1/0 and 0/1",
			s.RecentSucceeded, s.RecentDead, d.RecentSucceeded, d.RecentDead)
	}
	stats, err = s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stats {
		if q.RecentSucceeded != 0 || q.RecentDead != 0 {
			t.Errorf("queue %s: %d succeeded and %d dead after they ended", q.Name, q.RecentSucceeded, q.RecentDead)
		}
	}
}

// The counts follow every way a job changes or goes: insert (also with a
// unique key already taken, and with a dependency that failed), claim,
// finish, cancel down a chain, retry, delete.
func testQueueStatsFollowChanges(t *testing.T, s queue.Store) {
	checkCounts(t, s, t0)
	ids := insert(t, s, newJob("a"), newJob("a"), withKey(newJob("b"), "k"), withKey(newJob("b"), "k"))
	checkCounts(t, s, t0)
	die(t, s, t0, "b", 1, "", "exit status 1")
	insert(t, s, after(newJob("c"), ids[2]), after(newJob("c"), ids[0]))
	checkCounts(t, s, t0)
	succeed(t, s, t0, "a")
	claimOne(t, s, t0, "a")
	checkCounts(t, s, t0)
	cancel(t, s, t0, ids[1]) // running: marked only
	checkCounts(t, s, t0)
	// A lost worker's job taken back; a job handed back at shutdown; a
	// cancellation running down a chain of waiting jobs.
	expire(t, s, t0.Add(time.Hour), 0, "other-worker")
	checkCounts(t, s, t0.Add(time.Hour))
	head := insertOne(t, s, newJob("d"))
	insert(t, s, after(newJob("d"), head))
	j := claimOne(t, s, t0, "d")
	finish(t, s, t0, queue.Decide(j, queue.Result{Interrupted: true, FinishedAt: t0}, 0.5))
	checkCounts(t, s, t0)
	cancel(t, s, t0, head)
	checkCounts(t, s, t0)
	retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{States: []queue.State{queue.StateDead, queue.StateCancelled}, Now: t0}})
	checkCounts(t, s, t0)
	if _, err := s.JobDelete(t.Context(), queue.JobFilter{Now: t0}); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s, t0)
}

// The log of transitions has every change of a job's state, in order,
// with the attempt and worker of each.
func testEvents(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("e"))
	other := insertOne(t, s, newJob("other"))
	j := claimOne(t, s, t0, "e")
	finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"})
	succeed(t, s, t0, "e")
	events, err := s.EventList(t.Context(), queue.EventListParams{JobID: id})
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		from, to queue.State
		attempt  int
		worker   string
		err      string
	}
	want := []step{
		{"", queue.StatePending, 0, "", ""},
		{queue.StatePending, queue.StateRunning, 1, worker, ""},
		{queue.StateRunning, queue.StateRetrying, 1, "", "exit status 1"},
		{queue.StateRetrying, queue.StateRunning, 2, worker, ""},
		{queue.StateRunning, queue.StateSucceeded, 2, "", ""},
	}
	var got []step
	for i, e := range events {
		got = append(got, step{e.From, e.To, e.Attempt, e.Worker, e.Error})
		if e.JobID != id || i > 0 && e.ID <= events[i-1].ID {
			t.Errorf("event %+v: of job %d, or out of order", e, e.JobID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events of job %d:\n%+v\nwant\n%+v", id, got, want)
	}
	all, err := s.EventList(t.Context(), queue.EventListParams{})
	if err != nil || len(all) != 6 {
		t.Fatalf("all events: %d, %v; want 6", len(all), err)
	}
	last, err := s.EventList(t.Context(), queue.EventListParams{Last: 2})
	if err != nil || len(last) != 2 || last[0].ID != all[4].ID || last[1].ID != all[5].ID {
		t.Errorf("last 2 events: %+v, %v; want the last two of %d, in order", last, err, len(all))
	}
	since, err := s.EventList(t.Context(), queue.EventListParams{AfterID: all[1].ID})
	if err != nil || len(since) != 4 || since[0].ID != all[2].ID {
		t.Errorf("events after %d: %+v, %v; want the 4 after it", all[1].ID, since, err)
	}
	if none, err := s.EventList(t.Context(), queue.EventListParams{JobID: other, AfterID: all[5].ID}); err != nil || len(none) != 0 {
		t.Errorf("events of job %d after the last: %+v, %v; want none", other, none, err)
	}
	// A cancellation says why, down a chain of dependencies too.
	child := insertOne(t, s, after(newJob("child"), other))
	cancel(t, s, t0, other)
	for _, id := range []int64{other, child} {
		events, err := s.EventList(t.Context(), queue.EventListParams{JobID: id, Last: 1})
		if err != nil || len(events) != 1 || events[0].To != queue.StateCancelled || events[0].Error == "" {
			t.Errorf("last event of cancelled job %d: %+v, %v; want cancelled, saying why", id, events, err)
		}
	}
}
