// Package queuetest is the conformance suite every queue.Store must pass.
// It speaks only through the queue.Store interface and assumes nothing of
// the database behind it: a store for SQLite and one for PostgreSQL run
// the same tests.
//
// Use it from the store's own tests:
//
//	func TestStore(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Store { return openTestStore(t) })
//	}
package queuetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Run runs the suite. open must return a new, empty store each time it is
// called; Run closes it at the end of the test that opened it. Tests run
// in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) queue.Store) {
	tests := []suiteTest{
		{"InsertGetRoundTrip", testInsertGetRoundTrip},
		{"InsertMinimal", testInsertMinimal},
		{"InsertIDsIncrease", testInsertIDsIncrease},
		{"InsertKeepsBytes", testInsertKeepsBytes},
		{"InsertLargeBatch", testInsertLargeBatch},
		{"InsertNothing", testInsertNothing},
		{"NotFound", testNotFound},
		{"UniqueKey", testUniqueKey},
		{"UniqueKeyWithinOneCall", testUniqueKeyWithinOneCall},
		{"UniqueKeyFreedWhenFinal", testUniqueKeyFreedWhenFinal},
		{"ListNewestFirst", testListNewestFirst},
		{"ListByState", testListByState},
		{"ListByQueueAndLimit", testListByQueueAndLimit},
		{"ClaimOrder", testClaimOrder},
		{"ClaimOnlyReady", testClaimOnlyReady},
		{"ClaimQueueFilter", testClaimQueueFilter},
		{"ClaimLimit", testClaimLimit},
		{"ClaimSetsRunning", testClaimSetsRunning},
		{"FinishSucceeded", testFinishSucceeded},
		{"FinishDead", testFinishDead},
		{"FinishRetrying", testFinishRetrying},
		{"FinishHandedBack", testFinishHandedBack},
		{"FinishStaleRunIsLost", testFinishStaleRunIsLost},
		{"FinishAndClaimInOneCall", testFinishAndClaimInOneCall},
		{"FinishThenReclaimInOneCall", testFinishThenReclaimInOneCall},
		{"Heartbeat", testHeartbeat},
	}
	tests = append(tests, workTests...)
	tests = append(tests, operateTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.test(t, s)
		})
	}
}

type suiteTest struct {
	name string
	test func(t *testing.T, s queue.Store)
}

// t0 is the suite's clock: every time it gives a store is at millisecond
// precision, which every store keeps.
var t0 = time.Date(2031, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

const worker = "host-a:100"

// newJob is a valid job in queue q, ready at t0.
func newJob(q string) queue.JobInsertParams {
	return queue.JobInsertParams{
		Queue:       q,
		State:       queue.StatePending,
		Command:     "true",
		Argv:        queue.ShellArgv("true"),
		Dir:         "/",
		RunAt:       t0,
		MaxAttempts: 3,
		Backoff:     10 * time.Second,
		MaxBackoff:  time.Hour,
		CreatedAt:   t0,
	}
}

func insert(t *testing.T, s queue.Store, params ...queue.JobInsertParams) []int64 {
	t.Helper()
	ids, err := s.JobInsert(t.Context(), params)
	if err != nil {
		t.Fatalf("JobInsert: %v", err)
	}
	if len(ids) != len(params) {
		t.Fatalf("JobInsert of %d jobs returned %d IDs", len(params), len(ids))
	}
	return ids
}

func insertOne(t *testing.T, s queue.Store, p queue.JobInsertParams) int64 {
	t.Helper()
	return insert(t, s, p)[0]
}

func get(t *testing.T, s queue.Store, id int64) *queue.Job {
	t.Helper()
	job, err := s.JobGet(t.Context(), id)
	if err != nil {
		t.Fatalf("JobGet(%d): %v", id, err)
	}
	return job
}

func list(t *testing.T, s queue.Store, p queue.JobListParams) []int64 {
	t.Helper()
	jobs, err := s.JobList(t.Context(), p)
	if err != nil {
		t.Fatalf("JobList(%+v): %v", p, err)
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func attempts(t *testing.T, s queue.Store, id int64) []queue.Attempt {
	t.Helper()
	as, err := s.AttemptList(t.Context(), id)
	if err != nil {
		t.Fatalf("AttemptList(%d): %v", id, err)
	}
	return as
}

func claim(t *testing.T, s queue.Store, p queue.JobClaimParams) *queue.JobClaimResult {
	t.Helper()
	if p.Worker == "" {
		p.Worker = worker
	}
	if p.LeaseUntil.IsZero() {
		p.LeaseUntil = p.Now.Add(30 * time.Second)
	}
	res, err := s.JobClaim(t.Context(), p)
	if err != nil {
		t.Fatalf("JobClaim(%+v): %v", p, err)
	}
	return res
}

// claimIDs claims up to limit jobs of queues at now and returns their IDs.
func claimIDs(t *testing.T, s queue.Store, now time.Time, limit int, queues ...string) []int64 {
	t.Helper()
	res := claim(t, s, queue.JobClaimParams{Queues: queues, Limit: limit, Now: now})
	ids := make([]int64, len(res.Jobs))
	for i, j := range res.Jobs {
		ids[i] = j.ID
	}
	return ids
}

// claimOne claims the one ready job of queue q at now.
func claimOne(t *testing.T, s queue.Store, now time.Time, q string) *queue.Job {
	t.Helper()
	res := claim(t, s, queue.JobClaimParams{Queues: []string{q}, Limit: 1, Now: now})
	if len(res.Jobs) != 1 {
		t.Fatalf("claimed %d jobs of queue %s, want 1", len(res.Jobs), q)
	}
	return res.Jobs[0]
}

// finish records outcomes and fails the test if any was lost.
func finish(t *testing.T, s queue.Store, now time.Time, ps ...queue.JobFinishParams) {
	t.Helper()
	res := claim(t, s, queue.JobClaimParams{Finish: ps, Now: now})
	if len(res.Lost) > 0 || len(res.Jobs) > 0 {
		t.Fatalf("finish: lost %v, claimed %d jobs; want neither", res.Lost, len(res.Jobs))
	}
}

func intp(n int) *int { return &n }

func sameTime(a, b time.Time) bool { return a.Equal(b) || a.IsZero() && b.IsZero() }

func sameInt(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func showInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func testInsertGetRoundTrip(t *testing.T, s queue.Store) {
	p := queue.JobInsertParams{
		Queue:         "emails.out:eu-1",
		State:         queue.StateScheduled,
		Priority:      -7,
		Command:       "/bin/echo 'a b' \"it's\"",
		Argv:          []string{"/bin/echo", "a b", "it's", "", "é ✓"},
		Dir:           "/srv/app dir",
		Env:           []string{"A=1", "B=two words", "C=", "D=x=y"},
		RunAt:         t0.Add(time.Hour + 123*time.Millisecond),
		MaxAttempts:   5,
		Timeout:       90*time.Second + 500*time.Millisecond,
		Backoff:       2500 * time.Millisecond,
		MaxBackoff:    2 * time.Hour,
		PermanentExit: []int{3, 64, 65},
		UniqueKey:     "report:2031-02-03",
		CreatedAt:     t0.Add(-time.Millisecond),
	}
	id := insertOne(t, s, p)
	if id <= 0 {
		t.Fatalf("ID %d, want a positive one", id)
	}
	j := get(t, s, id)
	want := queue.Job{
		ID: id, Queue: p.Queue, State: p.State, Priority: p.Priority, Command: p.Command,
		Argv: p.Argv, Dir: p.Dir, Env: p.Env, RunAt: p.RunAt, MaxAttempts: p.MaxAttempts,
		Timeout: p.Timeout, Backoff: p.Backoff, MaxBackoff: p.MaxBackoff,
		PermanentExit: p.PermanentExit, UniqueKey: p.UniqueKey, CreatedAt: p.CreatedAt,
	}
	checkJob(t, j, &want)

	// JobList returns the same record.
	jobs, err := s.JobList(t.Context(), queue.JobListParams{Now: t0})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobList = %d jobs, %v; want 1", len(jobs), err)
	}
	checkJob(t, jobs[0], &want)
}

// checkJob compares every field of a job with want.
func checkJob(t *testing.T, got, want *queue.Job) {
	t.Helper()
	type field struct {
		name      string
		same      bool
		got, want any
	}
	for _, f := range []field{
		{"ID", got.ID == want.ID, got.ID, want.ID},
		{"Queue", got.Queue == want.Queue, got.Queue, want.Queue},
		{"State", got.State == want.State, got.State, want.State},
		{"Priority", got.Priority == want.Priority, got.Priority, want.Priority},
		{"Command", got.Command == want.Command, got.Command, want.Command},
		{"Argv", slices.Equal(got.Argv, want.Argv), got.Argv, want.Argv},
		{"Dir", got.Dir == want.Dir, got.Dir, want.Dir},
		{"Env", slices.Equal(got.Env, want.Env), got.Env, want.Env},
		{"RunAt", sameTime(got.RunAt, want.RunAt), got.RunAt, want.RunAt},
		{"MaxAttempts", got.MaxAttempts == want.MaxAttempts, got.MaxAttempts, want.MaxAttempts},
		{"Attempts", got.Attempts == want.Attempts, got.Attempts, want.Attempts},
		{"Timeout", got.Timeout == want.Timeout, got.Timeout, want.Timeout},
		{"Backoff", got.Backoff == want.Backoff, got.Backoff, want.Backoff},
		{"MaxBackoff", got.MaxBackoff == want.MaxBackoff, got.MaxBackoff, want.MaxBackoff},
		{"PermanentExit", slices.Equal(got.PermanentExit, want.PermanentExit), got.PermanentExit, want.PermanentExit},
		{"UniqueKey", got.UniqueKey == want.UniqueKey, got.UniqueKey, want.UniqueKey},
		{"CreatedAt", sameTime(got.CreatedAt, want.CreatedAt), got.CreatedAt, want.CreatedAt},
		{"StartedAt", sameTime(got.StartedAt, want.StartedAt), got.StartedAt, want.StartedAt},
		{"FinishedAt", sameTime(got.FinishedAt, want.FinishedAt), got.FinishedAt, want.FinishedAt},
		{"ExitCode", sameInt(got.ExitCode, want.ExitCode), showInt(got.ExitCode), showInt(want.ExitCode)},
		{"LastError", got.LastError == want.LastError, got.LastError, want.LastError},
		{"Run", got.Run == want.Run, got.Run, want.Run},
		{"Worker", got.Worker == want.Worker, got.Worker, want.Worker},
		{"LeaseUntil", sameTime(got.LeaseUntil, want.LeaseUntil), got.LeaseUntil, want.LeaseUntil},
	} {
		if !f.same {
			t.Errorf("job %d: %s = %v, want %v", want.ID, f.name, f.got, f.want)
		}
	}
}

func testInsertMinimal(t *testing.T, s queue.Store) {
	p := newJob("default")
	p.Backoff, p.MaxBackoff = 0, 0
	id := insertOne(t, s, p)
	j := get(t, s, id)
	if len(j.Env) != 0 || len(j.PermanentExit) != 0 || j.UniqueKey != "" || j.Timeout != 0 {
		t.Errorf("unset fields read back as env %q, permanent %v, unique key %q, timeout %v", j.Env, j.PermanentExit, j.UniqueKey, j.Timeout)
	}
	if j.State != queue.StatePending || j.Attempts != 0 || j.Run != 0 || j.ExitCode != nil {
		t.Errorf("new job: state %s, attempts %d, run %d, exit %v", j.State, j.Attempts, j.Run, showInt(j.ExitCode))
	}
	if !j.StartedAt.IsZero() || !j.FinishedAt.IsZero() || !j.LeaseUntil.IsZero() || j.Worker != "" {
		t.Errorf("new job: started %v, finished %v, lease %v, worker %q; want all unset", j.StartedAt, j.FinishedAt, j.LeaseUntil, j.Worker)
	}
	if a := attempts(t, s, id); len(a) != 0 {
		t.Errorf("new job has %d attempts in its history, want none", len(a))
	}
}

// Commands, arguments and environments are bytes, not always UTF-8 (file
// names): what is executed must be exactly what was enqueued.
func testInsertKeepsBytes(t *testing.T, s queue.Store) {
	p := newJob("default")
	p.Command = "rm -- '\xff\xfe.txt'"
	p.Argv = []string{"rm", "--", "\xff\xfe.txt", "", "tab\there", "new\nline"}
	p.Env = []string{"A=\xc3\x28", "EMPTY="}
	p.Dir = "/tmp/\xe9t\xe9"
	j := get(t, s, insertOne(t, s, p))
	if j.Command != p.Command || !slices.Equal(j.Argv, p.Argv) || !slices.Equal(j.Env, p.Env) || j.Dir != p.Dir {
		t.Errorf("read back command %q argv %q env %q dir %q\nwant %q %q %q %q", j.Command, j.Argv, j.Env, j.Dir, p.Command, p.Argv, p.Env, p.Dir)
	}
}

// A batch larger than any internal chunk gets one ID per job, in order,
// with unique keys settled across the whole batch.
func testInsertLargeBatch(t *testing.T, s queue.Store) {
	before := insertOne(t, s, withKey(newJob("default"), "old"))
	params := make([]queue.JobInsertParams, 1000)
	for i := range params {
		params[i] = newJob("bulk")
		params[i].Priority = i
	}
	params[10] = withKey(params[10], "old")   // an existing job's key
	params[500] = withKey(params[500], "new") // first of a new key...
	params[900] = withKey(params[900], "new") // ...and a repeat of it
	ids := insert(t, s, params...)
	if ids[10] != before || ids[900] != ids[500] {
		t.Errorf("unique keys: ids[10] = %d (want %d), ids[500] = %d, ids[900] = %d (want equal)", ids[10], before, ids[500], ids[900])
	}
	last := int64(0)
	for i, id := range ids {
		if i == 10 || i == 900 {
			continue
		}
		if id <= last {
			t.Fatalf("ids[%d] = %d after %d: IDs must increase in batch order", i, id, last)
		}
		last = id
		if j := get(t, s, id); j.Priority != i || j.Queue != "bulk" {
			t.Fatalf("ids[%d] = %d is the job with priority %d in queue %s, want priority %d", i, id, j.Priority, j.Queue, i)
		}
	}
	if n := len(list(t, s, queue.JobListParams{Queues: []string{"bulk"}})); n != 998 {
		t.Errorf("%d jobs inserted in queue bulk, want 998", n)
	}
}

func testInsertIDsIncrease(t *testing.T, s queue.Store) {
	first := insert(t, s, newJob("a"), newJob("b"), newJob("c"))
	second := insert(t, s, newJob("a"))
	all := append(first, second...)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("IDs %v do not increase", all)
		}
	}
	for i, id := range first {
		if q := get(t, s, id).Queue; q != []string{"a", "b", "c"}[i] {
			t.Errorf("ID %d is the job of queue %s, not the %d-th inserted", id, q, i+1)
		}
	}
}

func testInsertNothing(t *testing.T, s queue.Store) {
	ids, err := s.JobInsert(t.Context(), nil)
	if err != nil || len(ids) != 0 {
		t.Errorf("JobInsert(nil) = %v, %v; want nothing", ids, err)
	}
}

func testNotFound(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	if _, err := s.JobGet(t.Context(), id+1000); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobGet(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.AttemptList(t.Context(), id+1000); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("AttemptList(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.JobGet(t.Context(), 0); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobGet(0) error = %v, want ErrNotFound", err)
	}
	if _, err := s.JobGet(t.Context(), id); err != nil {
		t.Errorf("JobGet(%d) after the misses: %v", id, err)
	}
}

func withKey(p queue.JobInsertParams, key string) queue.JobInsertParams {
	p.UniqueKey = key
	return p
}

func testUniqueKey(t *testing.T, s queue.Store) {
	first := insertOne(t, s, withKey(newJob("default"), "k"))
	again := insert(t, s, withKey(newJob("default"), "k"), withKey(newJob("other"), "k"))
	if again[0] != first || again[1] != first {
		t.Errorf("inserting key k again gave IDs %v, want %d twice", again, first)
	}
	other := insertOne(t, s, withKey(newJob("default"), "k2"))
	none1 := insertOne(t, s, newJob("default"))
	none2 := insertOne(t, s, newJob("default"))
	if other == first || none1 == none2 || none1 == first {
		t.Errorf("distinct or empty keys were deduplicated: %d %d %d %d", first, other, none1, none2)
	}
	if got := list(t, s, queue.JobListParams{Now: t0}); len(got) != 4 {
		t.Errorf("JobList = %v, want 4 jobs", got)
	}
	// A running job is not final: its key still holds.
	claimOne(t, s, t0, "default")
	if got := list(t, s, queue.JobListParams{States: []queue.State{queue.StateRunning}, Now: t0}); !slices.Equal(got, []int64{first}) {
		t.Fatalf("running = %v, want [%d]", got, first)
	}
	if id := insertOne(t, s, withKey(newJob("default"), "k")); id != first {
		t.Errorf("key of a running job gave ID %d, want %d", id, first)
	}
}

func testUniqueKeyWithinOneCall(t *testing.T, s queue.Store) {
	ids := insert(t, s,
		withKey(newJob("default"), "a"),
		withKey(newJob("default"), "b"),
		withKey(newJob("default"), "a"),
		newJob("default"),
		withKey(newJob("default"), "b"),
	)
	if ids[2] != ids[0] || ids[4] != ids[1] || ids[0] == ids[1] || ids[3] == ids[0] || ids[3] == ids[1] {
		t.Errorf("IDs %v, want the 3rd equal to the 1st and the 5th to the 2nd, others distinct", ids)
	}
	if got := list(t, s, queue.JobListParams{Now: t0}); len(got) != 3 {
		t.Errorf("JobList = %v, want 3 jobs", got)
	}
}

func testUniqueKeyFreedWhenFinal(t *testing.T, s queue.Store) {
	for _, st := range []queue.State{queue.StateSucceeded, queue.StateDead} {
		first := insertOne(t, s, withKey(newJob("default"), "nightly"))
		j := claimOne(t, s, t0, "default")
		if j.ID != first {
			t.Fatalf("claimed %d, want %d", j.ID, first)
		}
		finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: st, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(0)})
		next := insertOne(t, s, withKey(newJob("default"), "nightly"))
		if next == first {
			t.Errorf("key of a %s job still deduplicates: got ID %d again", st, next)
		}
		if again := insertOne(t, s, withKey(newJob("default"), "nightly")); again != next {
			t.Errorf("key of the new job gave %d, want %d", again, next)
		}
		// Make the new job final too, for the next round.
		j = claimOne(t, s, t0, "default")
		finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(0)})
	}
}

func testListNewestFirst(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("a"), newJob("b"), newJob("a"))
	ids = append(ids, insertOne(t, s, newJob("c")))
	got := list(t, s, queue.JobListParams{Now: t0})
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("JobList = %v, want newest first %v", got, want)
	}
	if got := list(t, s, queue.JobListParams{Queues: []string{"nothing-here"}, Now: t0}); len(got) != 0 {
		t.Errorf("JobList of an empty queue = %v", got)
	}
}

// stateFixture makes one job in every state a store can reach through the
// interface, each in its own queue, and returns their IDs by name.
func stateFixture(t *testing.T, s queue.Store) map[string]int64 {
	t.Helper()
	future, past := t0.Add(time.Hour), t0.Add(-time.Hour)
	job := func(q string, st queue.State, runAt time.Time) queue.JobInsertParams {
		p := newJob(q)
		p.State, p.RunAt = st, runAt
		return p
	}
	ids := map[string]int64{}
	ids["pending"] = insertOne(t, s, job("pending", queue.StatePending, past))
	ids["scheduled"] = insertOne(t, s, job("scheduled", queue.StateScheduled, future))
	ids["scheduled-due"] = insertOne(t, s, job("scheduled-due", queue.StateScheduled, t0))
	for _, name := range []string{"running", "retrying", "retrying-due", "succeeded", "dead"} {
		ids[name] = insertOne(t, s, job(name, queue.StatePending, past))
		j := claimOne(t, s, t0, name)
		p := queue.JobFinishParams{ID: j.ID, Run: j.Run, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"}
		switch name {
		case "running":
			continue
		case "retrying":
			p.State, p.RunAt = queue.StateRetrying, future
		case "retrying-due":
			p.State, p.RunAt = queue.StateRetrying, t0
		case "succeeded":
			p.State, p.ExitCode, p.Error = queue.StateSucceeded, intp(0), ""
		case "dead":
			p.State = queue.StateDead
		}
		finish(t, s, t0, p)
	}
	return ids
}

// newestFirst is the IDs of the named jobs as JobList orders them.
func newestFirst(ids map[string]int64, names ...string) []int64 {
	var want []int64
	for _, n := range names {
		want = append(want, ids[n])
	}
	slices.Sort(want)
	slices.Reverse(want)
	return want
}

func testListByState(t *testing.T, s queue.Store) {
	ids := stateFixture(t, s)
	byName := func(names ...string) []int64 { return newestFirst(ids, names...) }
	tests := []struct {
		states []queue.State
		now    time.Time
		want   []int64
	}{
		{[]queue.State{queue.StatePending}, t0, byName("pending", "scheduled-due", "retrying-due")},
		{[]queue.State{queue.StateScheduled}, t0, byName("scheduled")},
		{[]queue.State{queue.StateRetrying}, t0, byName("retrying")},
		{[]queue.State{queue.StateRunning}, t0, byName("running")},
		{[]queue.State{queue.StateSucceeded}, t0, byName("succeeded")},
		{[]queue.State{queue.StateDead}, t0, byName("dead")},
		{[]queue.State{queue.StateCancelled}, t0, nil},
		{[]queue.State{queue.StateWaiting}, t0, nil},
		{[]queue.State{queue.StateSucceeded, queue.StateDead}, t0, byName("succeeded", "dead")},
		{[]queue.State{queue.StateScheduled, queue.StateRetrying}, t0, byName("scheduled", "retrying")},
		{[]queue.State{queue.StatePending, queue.StateRunning}, t0, byName("pending", "scheduled-due", "retrying-due", "running")},
		// Just before the due ones fall due, they are still waiting.
		{[]queue.State{queue.StatePending}, t0.Add(-time.Millisecond), byName("pending")},
		{[]queue.State{queue.StateScheduled}, t0.Add(-time.Millisecond), byName("scheduled", "scheduled-due")},
		{[]queue.State{queue.StateRetrying}, t0.Add(-time.Millisecond), byName("retrying", "retrying-due")},
		// Later, everything that waited for its time is ready.
		{[]queue.State{queue.StatePending}, t0.Add(2 * time.Hour), byName("pending", "scheduled", "scheduled-due", "retrying", "retrying-due")},
		{[]queue.State{queue.StateScheduled, queue.StateRetrying}, t0.Add(2 * time.Hour), nil},
		{nil, t0, byName("pending", "scheduled", "scheduled-due", "running", "retrying", "retrying-due", "succeeded", "dead")},
	}
	for _, tt := range tests {
		got := list(t, s, queue.JobListParams{States: tt.states, Now: tt.now})
		if !slices.Equal(got, tt.want) {
			t.Errorf("JobList(states %v at t0%+v) = %v, want %v", tt.states, tt.now.Sub(t0), got, tt.want)
		}
		// Every job listed is in a state asked for, as users see it.
		jobs, _ := s.JobList(t.Context(), queue.JobListParams{States: tt.states, Now: tt.now})
		for _, j := range jobs {
			if len(tt.states) > 0 && !slices.Contains(tt.states, j.StateAt(tt.now)) {
				t.Errorf("JobList(states %v) listed job %d, which is %s", tt.states, j.ID, j.StateAt(tt.now))
			}
		}
	}
}

func testListByQueueAndLimit(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("a"), newJob("b"), newJob("a"), newJob("c"), newJob("a"))
	tests := []struct {
		p    queue.JobListParams
		want []int64
	}{
		{queue.JobListParams{Queues: []string{"a"}}, []int64{ids[4], ids[2], ids[0]}},
		{queue.JobListParams{Queues: []string{"b", "c"}}, []int64{ids[3], ids[1]}},
		{queue.JobListParams{Queues: []string{"a"}, Limit: 2}, []int64{ids[4], ids[2]}},
		{queue.JobListParams{Limit: 1}, []int64{ids[4]}},
		{queue.JobListParams{Limit: 100}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{queue.JobListParams{Queues: []string{"c"}, States: []queue.State{queue.StatePending}}, []int64{ids[3]}},
		{queue.JobListParams{Queues: []string{"c"}, States: []queue.State{queue.StateDead}}, nil},
	}
	for _, tt := range tests {
		tt.p.Now = t0
		if got := list(t, s, tt.p); !slices.Equal(got, tt.want) {
			t.Errorf("JobList(%+v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func testClaimOrder(t *testing.T, s queue.Store) {
	job := func(prio int, runAt time.Duration) queue.JobInsertParams {
		p := newJob("default")
		p.Priority, p.RunAt = prio, t0.Add(runAt)
		return p
	}
	ids := insert(t, s,
		job(0, -3*time.Minute), // 0
		job(5, -1*time.Minute), // 1
		job(5, -2*time.Minute), // 2
		job(0, -3*time.Minute), // 3: as 0, inserted later
		job(0, 0),              // 4
		job(-1, -time.Hour),    // 5
		job(10, time.Minute),   // 6: not ready
	)
	ids = append(ids, insertOne(t, s, job(5, -2*time.Minute))) // 7: as 2, inserted later
	want := []int64{ids[2], ids[7], ids[1], ids[0], ids[3], ids[4], ids[5]}

	// One at a time and all at once claim in the same order.
	var one []int64
	for range want {
		one = append(one, claimIDs(t, s, t0, 1)...)
	}
	if !slices.Equal(one, want) {
		t.Errorf("claimed one at a time: %v, want %v", one, want)
	}
	if more := claimIDs(t, s, t0, 10); len(more) != 0 {
		t.Errorf("claimed %v after every ready job", more)
	}
}

func testClaimLimit(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("default"), newJob("default"), newJob("default"), newJob("default"))
	if got := claimIDs(t, s, t0, 0); len(got) != 0 {
		t.Errorf("Limit 0 claimed %v", got)
	}
	if got := claimIDs(t, s, t0, 3); !slices.Equal(got, ids[:3]) {
		t.Errorf("Limit 3 claimed %v, want %v in that order", got, ids[:3])
	}
	if got := claimIDs(t, s, t0, 3); !slices.Equal(got, ids[3:]) {
		t.Errorf("then claimed %v, want %v", got, ids[3:])
	}
}

func testClaimOnlyReady(t *testing.T, s queue.Store) {
	now := newJob("default")
	later := newJob("default")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Millisecond)
	ids := insert(t, s, later, now)
	if got := claimIDs(t, s, t0, 10); !slices.Equal(got, ids[1:]) {
		t.Errorf("claimed %v at t0, want only the job due at t0 (%d)", got, ids[1])
	}
	if got := claimIDs(t, s, t0, 10); len(got) != 0 {
		t.Errorf("claimed %v again: a running job was claimed twice", got)
	}
	if got := claimIDs(t, s, t0.Add(time.Millisecond), 10); !slices.Equal(got, ids[:1]) {
		t.Errorf("claimed %v when the scheduled job fell due, want %v", got, ids[:1])
	}
}

func testClaimQueueFilter(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("q1"), newJob("q2"), newJob("q3"), newJob("q1"))
	if got := claimIDs(t, s, t0, 10, "q1", "q3"); !slices.Equal(got, []int64{ids[0], ids[2], ids[3]}) {
		t.Errorf("claimed %v from q1, q3; want %v", got, []int64{ids[0], ids[2], ids[3]})
	}
	if got := claimIDs(t, s, t0, 10, "nothing-here"); len(got) != 0 {
		t.Errorf("claimed %v from an empty queue", got)
	}
	if got := claimIDs(t, s, t0, 10); !slices.Equal(got, ids[1:2]) {
		t.Errorf("claimed %v from every queue, want %v", got, ids[1:2])
	}
}

func testClaimSetsRunning(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	before := get(t, s, id)
	now := t0.Add(time.Second)
	lease := now.Add(30 * time.Second)
	res := claim(t, s, queue.JobClaimParams{Limit: 1, Now: now, Worker: "host-b:7", LeaseUntil: lease})
	if len(res.Jobs) != 1 || len(res.Lost) != 0 {
		t.Fatalf("claimed %d jobs, lost %v; want 1, none", len(res.Jobs), res.Lost)
	}
	want := *before
	want.State, want.Attempts, want.Run = queue.StateRunning, 1, 1
	want.Worker, want.LeaseUntil, want.StartedAt = "host-b:7", lease, now
	checkJob(t, res.Jobs[0], &want)
	checkJob(t, get(t, s, id), &want)

	as := attempts(t, s, id)
	if len(as) != 1 {
		t.Fatalf("history has %d attempts, want 1", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Run: 1, Attempt: 1, Worker: "host-b:7", StartedAt: now})
}

func checkAttempt(t *testing.T, got, want queue.Attempt) {
	t.Helper()
	if got.JobID != want.JobID || got.Run != want.Run || got.Attempt != want.Attempt || got.Worker != want.Worker ||
		!sameTime(got.StartedAt, want.StartedAt) || !sameTime(got.FinishedAt, want.FinishedAt) ||
		!sameInt(got.ExitCode, want.ExitCode) || got.Signal != want.Signal || got.Error != want.Error ||
		string(got.Output) != string(want.Output) {
		t.Errorf("attempt = {job %d run %d attempt %d worker %q started %v finished %v exit %v signal %q error %q output %q}\n"+
			"     want {job %d run %d attempt %d worker %q started %v finished %v exit %v signal %q error %q output %q}",
			got.JobID, got.Run, got.Attempt, got.Worker, got.StartedAt, got.FinishedAt, showInt(got.ExitCode), got.Signal, got.Error, got.Output,
			want.JobID, want.Run, want.Attempt, want.Worker, want.StartedAt, want.FinishedAt, showInt(want.ExitCode), want.Signal, want.Error, want.Output)
	}
}

func testFinishSucceeded(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	j := claimOne(t, s, t0, "default")
	end := t0.Add(1500 * time.Millisecond)
	output := []byte("line 1\nline 2 \x00\xff binary\n")
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts,
		FinishedAt: end, ExitCode: intp(0), Output: output,
	})
	got := get(t, s, id)
	if got.State != queue.StateSucceeded || !sameInt(got.ExitCode, intp(0)) || got.LastError != "" || got.Attempts != 1 {
		t.Errorf("job = state %s exit %v error %q attempts %d; want succeeded 0 \"\" 1", got.State, showInt(got.ExitCode), got.LastError, got.Attempts)
	}
	if !got.FinishedAt.Equal(end) || !got.StartedAt.Equal(t0) {
		t.Errorf("job started %v finished %v, want %v and %v", got.StartedAt, got.FinishedAt, t0, end)
	}
	as := attempts(t, s, id)
	if len(as) != 1 {
		t.Fatalf("history has %d attempts, want 1", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Run: 1, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, ExitCode: intp(0), Output: output})
	if ids := claimIDs(t, s, end.Add(time.Hour), 10); len(ids) != 0 {
		t.Errorf("a succeeded job was claimed again: %v", ids)
	}
}

func testFinishDead(t *testing.T, s queue.Store) {
	p := newJob("default")
	p.MaxAttempts = 1
	id := insertOne(t, s, p)
	j := claimOne(t, s, t0, "default")
	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StateDead, Attempts: 1, FinishedAt: end,
		Signal: "SIGKILL", Error: "killed by SIGKILL", Output: []byte("bye\n"),
	})
	got := get(t, s, id)
	if got.State != queue.StateDead || got.ExitCode != nil || got.LastError != "killed by SIGKILL" || !got.FinishedAt.Equal(end) {
		t.Errorf("job = state %s exit %v error %q finished %v; want dead, none, killed by SIGKILL, %v", got.State, showInt(got.ExitCode), got.LastError, got.FinishedAt, end)
	}
	as := attempts(t, s, id)
	if len(as) != 1 {
		t.Fatalf("history has %d attempts, want 1", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Run: 1, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, Signal: "SIGKILL", Error: "killed by SIGKILL", Output: []byte("bye\n")})
	if ids := claimIDs(t, s, end.Add(time.Hour), 10); len(ids) != 0 {
		t.Errorf("a dead job was claimed again: %v", ids)
	}
}

func testFinishRetrying(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	j := claimOne(t, s, t0, "default")
	end := t0.Add(time.Second)
	retryAt := end.Add(10 * time.Second)
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: retryAt,
		FinishedAt: end, ExitCode: intp(2), Error: "exit status 2", Output: []byte("oops\n"),
	})
	got := get(t, s, id)
	if got.State != queue.StateRetrying || !got.RunAt.Equal(retryAt) || got.Attempts != 1 || !sameInt(got.ExitCode, intp(2)) || got.LastError != "exit status 2" {
		t.Errorf("job = state %s run_at %v attempts %d exit %v error %q; want retrying at %v, 1, 2, exit status 2",
			got.State, got.RunAt, got.Attempts, showInt(got.ExitCode), got.LastError, retryAt)
	}
	if got.StateAt(end) != queue.StateRetrying || got.StateAt(retryAt) != queue.StatePending {
		t.Errorf("StateAt: %s during the backoff, %s after it", got.StateAt(end), got.StateAt(retryAt))
	}

	// Not claimed again before its backoff has passed.
	if ids := claimIDs(t, s, retryAt.Add(-time.Millisecond), 10); len(ids) != 0 {
		t.Fatalf("claimed %v during the backoff", ids)
	}
	second := claim(t, s, queue.JobClaimParams{Limit: 10, Now: retryAt, Worker: "host-b:7"})
	if len(second.Jobs) != 1 || second.Jobs[0].ID != id {
		t.Fatalf("claimed %d jobs after the backoff, want job %d", len(second.Jobs), id)
	}
	j2 := second.Jobs[0]
	if j2.Attempts != 2 || j2.Run != 2 || j2.Worker != "host-b:7" || j2.State != queue.StateRunning {
		t.Errorf("second claim: attempts %d run %d worker %q state %s; want 2, 2, host-b:7, running", j2.Attempts, j2.Run, j2.Worker, j2.State)
	}
	end2 := retryAt.Add(time.Second)
	finish(t, s, end2, queue.JobFinishParams{ID: id, Run: 2, State: queue.StateSucceeded, Attempts: 2, FinishedAt: end2, ExitCode: intp(0), Output: []byte("ok\n")})

	as := attempts(t, s, id)
	if len(as) != 2 {
		t.Fatalf("history has %d attempts, want 2", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Run: 1, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, ExitCode: intp(2), Error: "exit status 2", Output: []byte("oops\n")})
	checkAttempt(t, as[1], queue.Attempt{JobID: id, Run: 2, Attempt: 2, Worker: "host-b:7", StartedAt: retryAt, FinishedAt: end2, ExitCode: intp(0), Output: []byte("ok\n")})
	if got := get(t, s, id); got.State != queue.StateSucceeded || got.LastError != "" || !sameInt(got.ExitCode, intp(0)) {
		t.Errorf("after the retry succeeded: state %s error %q exit %v", got.State, got.LastError, showInt(got.ExitCode))
	}
}

func testFinishHandedBack(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	j := claimOne(t, s, t0, "default")
	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StatePending, Attempts: j.Attempts - 1, RunAt: end,
		FinishedAt: end, Signal: "SIGTERM", Error: queue.ErrShutdown.Error(),
	})
	got := get(t, s, id)
	if got.State != queue.StatePending || got.Attempts != 0 || got.Run != 1 {
		t.Errorf("handed back: state %s attempts %d run %d; want pending, 0, 1", got.State, got.Attempts, got.Run)
	}
	j2 := claimOne(t, s, end, "default")
	if j2.Attempts != 1 || j2.Run != 2 {
		t.Errorf("claimed again: attempts %d run %d; want 1, 2", j2.Attempts, j2.Run)
	}
	as := attempts(t, s, id)
	if len(as) != 2 {
		t.Fatalf("history has %d attempts, want 2", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Run: 1, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, Signal: "SIGTERM", Error: queue.ErrShutdown.Error()})
	checkAttempt(t, as[1], queue.Attempt{JobID: id, Run: 2, Attempt: 1, Worker: worker, StartedAt: end})
}

func testFinishStaleRunIsLost(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	done := insertOne(t, s, newJob("done"))
	j := claimOne(t, s, t0, "default")
	d := claimOne(t, s, t0, "done")
	finish(t, s, t0, queue.JobFinishParams{ID: d.ID, Run: d.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0, ExitCode: intp(0)})
	before := get(t, s, id)
	beforeDone := get(t, s, done)

	end := t0.Add(time.Second)
	res := claim(t, s, queue.JobClaimParams{Now: end, Finish: []queue.JobFinishParams{
		{ID: id, Run: j.Run + 1, State: queue.StateSucceeded, Attempts: 1, FinishedAt: end, ExitCode: intp(0)}, // a run it never had
		{ID: id, Run: j.Run - 1, State: queue.StateDead, Attempts: 1, FinishedAt: end, ExitCode: intp(1)},      // an earlier run
		{ID: done, Run: d.Run, State: queue.StateDead, Attempts: 1, FinishedAt: end, ExitCode: intp(1)},        // no longer running
		{ID: id + 1000, Run: 1, State: queue.StateSucceeded, Attempts: 1, FinishedAt: end, ExitCode: intp(0)},  // no such job
	}})
	if want := []int64{id, id, done, id + 1000}; !slices.Equal(res.Lost, want) {
		t.Errorf("Lost = %v, want %v", res.Lost, want)
	}
	checkJob(t, get(t, s, id), before)
	checkJob(t, get(t, s, done), beforeDone)
	as := attempts(t, s, id)
	if len(as) != 1 || !as[0].FinishedAt.IsZero() || as[0].ExitCode != nil {
		t.Errorf("the running attempt changed: %+v", as)
	}
}

func testFinishAndClaimInOneCall(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("default"), newJob("default"), newJob("default"))
	j := claimOne(t, s, t0, "default")
	end := t0.Add(time.Second)
	res := claim(t, s, queue.JobClaimParams{Limit: 1, Now: end, Finish: []queue.JobFinishParams{
		{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: end, ExitCode: intp(0)},
	}})
	if len(res.Lost) != 0 || len(res.Jobs) != 1 || res.Jobs[0].ID != ids[1] {
		t.Fatalf("finish + claim: lost %v, claimed %d jobs; want none lost and job %d", res.Lost, len(res.Jobs), ids[1])
	}
	if got := get(t, s, ids[0]); got.State != queue.StateSucceeded {
		t.Errorf("finished job is %s, want succeeded", got.State)
	}
	if got := get(t, s, ids[1]); got.State != queue.StateRunning {
		t.Errorf("claimed job is %s, want running", got.State)
	}
}

// testFinishThenReclaimInOneCall: outcomes are recorded before claiming, so
// a job retried without backoff is claimed again in the same call.
func testFinishThenReclaimInOneCall(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	j := claimOne(t, s, t0, "default")
	end := t0.Add(time.Second)
	res := claim(t, s, queue.JobClaimParams{Limit: 1, Now: end, Finish: []queue.JobFinishParams{
		{ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: end, FinishedAt: end, ExitCode: intp(1), Error: "exit status 1"},
	}})
	if len(res.Lost) != 0 || len(res.Jobs) != 1 || res.Jobs[0].ID != id || res.Jobs[0].Run != 2 || res.Jobs[0].Attempts != 2 {
		t.Fatalf("finish + claim: lost %v, jobs %d; want job %d claimed again as run 2, attempt 2", res.Lost, len(res.Jobs), id)
	}
	if as := attempts(t, s, id); len(as) != 2 || !sameInt(as[0].ExitCode, intp(1)) || !as[1].FinishedAt.IsZero() {
		t.Errorf("history = %+v, want the failed attempt and a running one", as)
	}
}

func testHeartbeat(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("default"), newJob("default"), newJob("done"))
	res := claim(t, s, queue.JobClaimParams{Limit: 2, Now: t0, Queues: []string{"default"}, LeaseUntil: t0.Add(30 * time.Second)})
	if len(res.Jobs) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(res.Jobs))
	}
	a, b := res.Jobs[0], res.Jobs[1]
	d := claimOne(t, s, t0, "done")
	finish(t, s, t0, queue.JobFinishParams{ID: d.ID, Run: d.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0, ExitCode: intp(0)})

	lease := t0.Add(40 * time.Second)
	hb, err := s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{
		Worker: worker, LeaseUntil: lease,
		Jobs: []queue.JobRef{{ID: a.ID, Run: a.Run}, {ID: b.ID, Run: b.Run}},
	})
	if err != nil || len(hb.Lost) != 0 || len(hb.Cancel) != 0 {
		t.Fatalf("JobHeartbeat = %+v, %v; want nothing lost", hb, err)
	}
	for _, id := range ids[:2] {
		if got := get(t, s, id).LeaseUntil; !got.Equal(lease) {
			t.Errorf("job %d lease until %v, want %v", id, got, lease)
		}
	}

	later := t0.Add(50 * time.Second)
	hb, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{
		Worker: worker, LeaseUntil: later,
		Jobs: []queue.JobRef{
			{ID: a.ID, Run: a.Run + 1}, // a run it never had
			{ID: b.ID, Run: b.Run},     // still held
			{ID: d.ID, Run: d.Run},     // finished
			{ID: ids[2] + 1000, Run: 1},
		},
	})
	if want := []int64{a.ID, d.ID, ids[2] + 1000}; err != nil || !slices.Equal(hb.Lost, want) {
		t.Errorf("JobHeartbeat = lost %v, %v; want %v", hb.Lost, err, want)
	}
	if got := get(t, s, a.ID).LeaseUntil; !got.Equal(lease) {
		t.Errorf("lease of job %d under a wrong run moved to %v", a.ID, got)
	}
	if got := get(t, s, b.ID).LeaseUntil; !got.Equal(later) {
		t.Errorf("lease of job %d = %v, want %v", b.ID, got, later)
	}

	hb, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{
		Worker: "host-b:7", LeaseUntil: later.Add(time.Minute),
		Jobs: []queue.JobRef{{ID: b.ID, Run: b.Run}},
	})
	if err != nil || !slices.Equal(hb.Lost, []int64{b.ID}) {
		t.Errorf("JobHeartbeat by another worker = lost %v, %v; want [%d]", hb.Lost, err, b.ID)
	}
	if got := get(t, s, b.ID); !got.LeaseUntil.Equal(later) || got.Worker != worker {
		t.Errorf("another worker's heartbeat changed the job: lease %v worker %q", got.LeaseUntil, got.Worker)
	}

	hb, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{Worker: worker, LeaseUntil: later})
	if err != nil || len(hb.Lost) != 0 {
		t.Errorf("JobHeartbeat of no jobs = %+v, %v", hb, err)
	}
}
