package queuetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Dependencies (--after): what a dependency's end does to the jobs waiting
// for it.
var depsTests = []suiteTest{
	{"AfterWaits", testAfterWaits},
	{"AfterFailedCancelsChain", testAfterFailedCancelsChain},
	{"AfterSettledAtInsert", testAfterSettledAtInsert},
	{"AfterMissing", testAfterMissing},
	{"DeleteCancelsWaiting", testDeleteCancelsWaiting},
}

func after(p queue.JobInsertParams, ids ...int64) queue.JobInsertParams {
	p.After = ids
	return p
}

// A job with dependencies waits until all of them succeeded, then runs
// as inserted: now, or at its run_at.
func testAfterWaits(t *testing.T, s queue.Store) {
	a := insertOne(t, s, newJob("a"))
	b := insertOne(t, s, newJob("b"))
	c := insertOne(t, s, after(newJob("c"), a, b))
	later := newJob("d")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Hour)
	d := insertOne(t, s, after(later, a))
	for _, tt := range []struct {
		id   int64
		deps []int64
	}{{a, nil}, {b, nil}, {c, []int64{a, b}}, {d, []int64{a}}} {
		st := queue.StatePending
		if tt.deps != nil {
			st = queue.StateWaiting
		}
		got := get(t, s, tt.id)
		if got.State != st || !slices.Equal(slices.Sorted(slices.Values(got.DependsOn)), tt.deps) {
			t.Errorf("JobGet(%d): %s, depends on %v; want %s, %v", tt.id, got.State, got.DependsOn, st, tt.deps)
		}
		jobs, err := s.JobList(t.Context(), queue.JobListParams{Queues: []string{got.Queue}, Now: t0})
		if err != nil || len(jobs) != 1 || !slices.Equal(slices.Sorted(slices.Values(jobs[0].DependsOn)), tt.deps) {
			t.Errorf("JobList of job %d: %d jobs, %v; want it, depending on %v", tt.id, len(jobs), err, tt.deps)
		} else if jobs[0].State != st {
			t.Errorf("JobList: job %d is %s, want %s", tt.id, jobs[0].State, st)
		}
	}
	if got := list(t, s, queue.JobListParams{States: []queue.State{queue.StateWaiting}, Now: t0}); !slices.Equal(got, []int64{d, c}) {
		t.Errorf("JobList(waiting) = %v, want %v", got, []int64{d, c})
	}
	if got := claimIDs(t, s, t0.Add(2*time.Hour), 10, "c", "d"); len(got) != 0 {
		t.Fatalf("claimed %v while their dependencies had not run", got)
	}

	// a fails once: still waiting.
	ja := claimOne(t, s, t0, "a")
	t1 := t0.Add(time.Second)
	finish(t, s, t1, queue.JobFinishParams{ID: a, Run: ja.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t1, FinishedAt: t1, ExitCode: intp(1)})
	for _, id := range []int64{c, d} {
		if st := get(t, s, id).State; st != queue.StateWaiting {
			t.Errorf("job %d is %s after its dependency failed once, want waiting", id, st)
		}
	}
	t2 := t0.Add(2 * time.Second)
	succeed(t, s, t2, "a")
	if got := get(t, s, c); got.State != queue.StateWaiting {
		t.Errorf("job %d is %s with one of two dependencies succeeded, want waiting", c, got.State)
	}
	if got := get(t, s, d); got.State != queue.StateScheduled || !got.RunAt.Equal(later.RunAt) {
		t.Errorf("job %d is %s at %v once its dependency succeeded, want scheduled at %v", d, got.State, got.RunAt, later.RunAt)
	}
	t3 := t0.Add(3 * time.Second)
	succeed(t, s, t3, "b")
	if got := get(t, s, c); got.State != queue.StatePending {
		t.Errorf("job %d is %s once all its dependencies succeeded, want pending", c, got.State)
	}
	if got := claimIDs(t, s, t3, 10, "c", "d"); !slices.Equal(got, []int64{c}) {
		t.Errorf("claimed %v, want %v", got, []int64{c})
	}
	if got := claimIDs(t, s, later.RunAt, 10, "c", "d"); !slices.Equal(got, []int64{d}) {
		t.Errorf("claimed %v at its run_at, want %v", got, []int64{d})
	}
}

// A dependency that ends dead or cancelled cancels the jobs waiting for
// it, and the jobs waiting for those, each saying why.
func testAfterFailedCancelsChain(t *testing.T, s queue.Store) {
	a := insertOne(t, s, newJob("a"))
	b := insertOne(t, s, after(newJob("b"), a))
	c := insertOne(t, s, after(newJob("c"), b))
	other := insertOne(t, s, newJob("other"))
	d := insertOne(t, s, after(newJob("d"), other, a))
	e := insertOne(t, s, newJob("e"))
	f := insertOne(t, s, after(newJob("f"), e))
	g := insertOne(t, s, after(newJob("g"), f))
	h := insertOne(t, s, newJob("h"))
	i := insertOne(t, s, after(newJob("i"), h))

	end := t0.Add(time.Second)
	fail(t, s, end, "a")
	cancel(t, s, end, e)
	jh := claimOne(t, s, t0, "h")
	finish(t, s, end, queue.Decide(jh, queue.Result{Cancelled: true, Error: queue.ErrCancelled.Error(), FinishedAt: end}, 0.5))

	for _, tt := range []struct {
		id, dep int64
		why     string
	}{
		{b, a, "dead"}, {c, b, "cancelled"}, {d, a, "dead"},
		{f, e, "cancelled by JobCancel"}, {g, f, "cancelled"},
		{i, h, "cancelled by its worker"},
	} {
		got := get(t, s, tt.id)
		if got.State != queue.StateCancelled || !got.FinishedAt.Equal(end) || !names(got.LastError, tt.dep) {
			t.Errorf("job %d, after its dependency %d (%s): %s, finished %v, error %q; want cancelled at %v, naming %d",
				tt.id, tt.dep, tt.why, got.State, got.FinishedAt, got.LastError, end, tt.dep)
		}
	}
	if st := get(t, s, other).State; st != queue.StatePending {
		t.Errorf("the other dependency is %s, want pending", st)
	}
	if got := claimIDs(t, s, end, 10, "b", "c", "d", "f", "g", "i"); len(got) != 0 {
		t.Errorf("claimed cancelled jobs %v", got)
	}
}

// Dependencies already settled when a job is inserted settle it at once,
// each job of a batch by its own.
func testAfterSettledAtInsert(t *testing.T, s queue.Store) {
	ok := insertOne(t, s, newJob("ok"))
	succeed(t, s, t0, "ok")
	dead := insertOne(t, s, newJob("dead"))
	fail(t, s, t0, "dead")
	gone := insertOne(t, s, newJob("gone"))
	cancel(t, s, t0, gone)
	running := insertOne(t, s, newJob("running"))
	claimOne(t, s, t0, "running")

	later := newJob("x")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Hour)
	now := t0.Add(time.Minute)
	batch := []queue.JobInsertParams{
		newJob("x"),
		after(newJob("x"), ok),
		after(later, ok),
		after(newJob("x"), dead),
		after(newJob("x"), gone),
		after(newJob("x"), ok, dead),
		after(newJob("x"), ok, running),
		after(newJob("x"), ok),
	}
	for i := range batch {
		batch[i].CreatedAt = now
	}
	ids := insert(t, s, batch...)
	want := []struct {
		state queue.State
		named int64 // the dependency LastError names; 0: no error
	}{
		{queue.StatePending, 0},
		{queue.StatePending, 0},
		{queue.StateScheduled, 0},
		{queue.StateCancelled, dead},
		{queue.StateCancelled, gone},
		{queue.StateCancelled, dead},
		{queue.StateWaiting, 0},
		{queue.StatePending, 0},
	}
	for i, w := range want {
		got := get(t, s, ids[i])
		switch {
		case got.State != w.state:
			t.Errorf("job %d of the batch is %s, want %s", i, got.State, w.state)
		case w.named != 0 && (!names(got.LastError, w.named) || got.FinishedAt.IsZero()):
			t.Errorf("job %d of the batch: error %q, finished %v; want an error naming %d and a finish time", i, got.LastError, got.FinishedAt, w.named)
		case w.named == 0 && (got.LastError != "" || !got.FinishedAt.IsZero()):
			t.Errorf("job %d of the batch: error %q, finished %v; want neither", i, got.LastError, got.FinishedAt)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got.DependsOn)), batch[i].After) {
			t.Errorf("job %d of the batch depends on %v, want %v", i, got.DependsOn, batch[i].After)
		}
	}
	if !slices.Equal(batch[1].After, []int64{ok}) || batch[1].State != queue.StatePending || batch[6].State != queue.StatePending {
		t.Errorf("JobInsert changed its params: %+v", batch)
	}
}

// A dependency that does not exist fails the whole insert.
func testAfterMissing(t *testing.T, s queue.Store) {
	a := insertOne(t, s, newJob("a"))
	ids, err := s.JobInsert(t.Context(), []queue.JobInsertParams{newJob("b"), after(newJob("c"), a, a+1000)})
	if !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobInsert after a missing job = %v, %v; want ErrNotFound", ids, err)
	}
	if got := list(t, s, queue.JobListParams{Now: t0}); !slices.Equal(got, []int64{a}) {
		t.Errorf("jobs after the failed insert: %v, want only %v", got, []int64{a})
	}
	if b := insertOne(t, s, newJob("b")); b <= a {
		t.Errorf("next ID %d after %d", b, a)
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
