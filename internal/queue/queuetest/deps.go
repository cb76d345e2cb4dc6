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
	{"AfterMissingBeforeUnique", testAfterMissingBeforeUnique},
	{"DeleteCancelsWaiting", testDeleteCancelsWaiting},
	{"AfterEventOrder", testAfterEventOrder},
	{"AfterSiblingOrder", testAfterSiblingOrder},
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
		jobs, err := s.JobList(t.Context(), queue.JobFilter{Queues: []string{got.Queue}, Now: t0})
		if err != nil || len(jobs) != 1 || !slices.Equal(slices.Sorted(slices.Values(jobs[0].DependsOn)), tt.deps) {
			t.Errorf("JobList of job %d: %d jobs, %v; want it, depending on %v", tt.id, len(jobs), err, tt.deps)
		} else if jobs[0].State != st {
			t.Errorf("JobList: job %d is %s, want %s", tt.id, jobs[0].State, st)
		}
	}
	if got := list(t, s, queue.JobFilter{States: []queue.State{queue.StateWaiting}, Now: t0}); !slices.Equal(got, []int64{d, c}) {
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
	ids, err := s.JobInsert(t.Context(), queue.Jobs(newJob("b"), after(newJob("c"), a, a+1000)))
	if !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobInsert after a missing job = %v, %v; want ErrNotFound", ids, err)
	}
	if got := list(t, s, queue.JobFilter{Now: t0}); !slices.Equal(got, []int64{a}) {
		t.Errorf("jobs after the failed insert: %v, want only %v", got, []int64{a})
	}
	if b := insertOne(t, s, newJob("b")); b <= a {
		t.Errorf("next ID %d after %d", b, a)
	}
}

// A missing dependency is an error whatever the unique key: one that
// already belongs to a live job does not make the insert a no-op that
// returns that job's ID (`enqueue --unique k --after 999`).
func testAfterMissingBeforeUnique(t *testing.T, s queue.Store) {
	keyed := newJob("a")
	keyed.UniqueKey = "k"
	a := insertOne(t, s, keyed)
	dup := after(newJob("a"), a+1000)
	dup.UniqueKey = "k"
	ids, err := s.JobInsert(t.Context(), queue.Jobs(dup))
	if !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobInsert of key k after a missing job = %v, %v; want ErrNotFound", ids, err)
	}
	// The same within one batch: the key taken by an earlier line.
	first := newJob("a")
	first.UniqueKey = "k2"
	dup.UniqueKey = "k2"
	ids, err = s.JobInsert(t.Context(), queue.Jobs(first, dup))
	if !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobInsert of a batch whose second job repeats a key and waits for a missing job = %v, %v; want ErrNotFound", ids, err)
	}
	if got := list(t, s, queue.JobFilter{Now: t0}); !slices.Equal(got, []int64{a}) {
		t.Errorf("jobs after the failed inserts: %v, want only %v", got, []int64{a})
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

// step is one logged transition, as the order tests compare them.
type step struct {
	job      int64
	from, to queue.State
}

// stepsSince returns the transitions logged after event afterID, of the
// given jobs only, in the order of the log.
func stepsSince(t *testing.T, s queue.Store, afterID int64, jobs ...int64) []step {
	t.Helper()
	events, err := s.EventList(t.Context(), queue.EventListParams{AfterID: afterID})
	if err != nil {
		t.Fatal(err)
	}
	var out []step
	for _, e := range events {
		if slices.Contains(jobs, e.JobID) {
			out = append(out, step{e.JobID, e.From, e.To})
		}
	}
	return out
}

// lastEventID is the ID of the newest event, the point from which an
// order test reads the log.
func lastEventID(t *testing.T, s queue.Store) int64 {
	t.Helper()
	events, err := s.EventList(t.Context(), queue.EventListParams{Last: 1})
	if err != nil || len(events) != 1 {
		t.Fatalf("last event: %v, %v", events, err)
	}
	return events[0].ID
}

// The log reads in the order things happened, a cause before its effects,
// whatever ends a dependency: for a chain A <- B <- C, A's end is logged,
// then B's, then C's. The jobs of one generation (siblings, see
// testAfterSiblingOrder) come in ID order.
func testAfterEventOrder(t *testing.T, s queue.Store) {
	// chain inserts p, b after it and c after b, each in its own queue.
	chain := func(p queue.JobInsertParams) (a, b, c int64) {
		a = insertOne(t, s, p)
		b = insertOne(t, s, after(newJob(p.Queue+"-b"), a))
		c = insertOne(t, s, after(newJob(p.Queue+"-c"), b))
		return a, b, c
	}
	withMaxAttempts := func(q string, n int) queue.JobInsertParams {
		p := newJob(q)
		p.MaxAttempts = n
		return p
	}
	const (
		pending   = queue.StatePending
		scheduled = queue.StateScheduled
		waiting   = queue.StateWaiting
		running   = queue.StateRunning
		retrying  = queue.StateRetrying
		dead      = queue.StateDead
		cancelled = queue.StateCancelled
		succeeded = queue.StateSucceeded
	)
	check := func(t *testing.T, from int64, want []step) {
		t.Helper()
		var jobs []int64
		for _, st := range want {
			if !slices.Contains(jobs, st.job) {
				jobs = append(jobs, st.job)
			}
		}
		if got := stepsSince(t, s, from, jobs...); !slices.Equal(got, want) {
			t.Errorf("log =\n%v\nwant\n%v", got, want)
		}
	}

	t.Run("dead after retrying", func(t *testing.T) {
		a, b, c := chain(withMaxAttempts("dead", 2))
		from := lastEventID(t, s)
		j := claimOne(t, s, t0, "dead")
		finish(t, s, t0, queue.JobFinishParams{ID: a, Run: j.Run, State: retrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"})
		fail(t, s, t0, "dead")
		check(t, from, []step{{a, pending, running}, {a, running, retrying}, {a, retrying, running},
			{a, running, dead}, {b, waiting, cancelled}, {c, waiting, cancelled}})
	})
	t.Run("succeeded", func(t *testing.T) {
		a, b, c := chain(newJob("ok"))
		later := newJob("ok-later")
		later.State, later.RunAt = scheduled, t0.Add(time.Hour)
		d := insertOne(t, s, after(later, a))
		from := lastEventID(t, s)
		succeed(t, s, t0, "ok")
		check(t, from, []step{{a, pending, running}, {a, running, succeeded}, {b, waiting, pending}, {d, waiting, scheduled}})
		succeed(t, s, t0, "ok-b")
		check(t, from, []step{{a, pending, running}, {a, running, succeeded}, {b, waiting, pending},
			{b, pending, running}, {b, running, succeeded}, {c, waiting, pending}})
	})
	t.Run("cancelled", func(t *testing.T) {
		a, b, c := chain(newJob("cancel"))
		from := lastEventID(t, s)
		cancel(t, s, t0, a)
		check(t, from, []step{{a, pending, cancelled}, {b, waiting, cancelled}, {c, waiting, cancelled}})
	})
	t.Run("cancelled while running", func(t *testing.T) {
		a, b, c := chain(newJob("stop"))
		from := lastEventID(t, s)
		j := claimOne(t, s, t0, "stop")
		cancel(t, s, t0, a)
		finish(t, s, t0, queue.Decide(j, queue.Result{Cancelled: true, Error: queue.ErrCancelled.Error(), FinishedAt: t0}, 0.5))
		check(t, from, []step{{a, pending, running}, {a, running, cancelled}, {b, waiting, cancelled}, {c, waiting, cancelled}})
	})
	t.Run("lease expired", func(t *testing.T) {
		a, b, c := chain(withMaxAttempts("lost", 1))
		from := lastEventID(t, s)
		claim(t, s, queue.JobClaimParams{Limit: 1, Queues: []string{"lost"}, Now: t0, Worker: worker, LeaseUntil: t0.Add(time.Minute)})
		expire(t, s, t0.Add(time.Hour), 0, "w2")
		check(t, from, []step{{a, pending, running}, {a, running, dead}, {b, waiting, cancelled}, {c, waiting, cancelled}})
	})
	t.Run("deleted", func(t *testing.T) {
		a, b, c := chain(newJob("purge"))
		from := lastEventID(t, s)
		if n, err := s.JobDelete(t.Context(), queue.JobFilter{IDs: []int64{a}, Now: t0}); err != nil || n != 1 {
			t.Fatalf("JobDelete = %d, %v", n, err)
		}
		// A deleted job's events go with it.
		check(t, from, []step{{b, waiting, cancelled}, {c, waiting, cancelled}})
		if j := get(t, s, b); !names(j.LastError, a) || !j.FinishedAt.Equal(t0) {
			t.Errorf("job %d after its dependency was deleted: %q, finished %v; want the error naming %d, finished at %v", b, j.LastError, j.FinishedAt, a, t0)
		}
	})
	checkCounts(t, s, t0)
}

// The jobs waiting for a job settle breadth first, each generation in ID
// order, whichever job of the generation before each waited for; a job
// waiting for two jobs of one generation settles once.
//
//	a <- b2 <- g5, g6
//	a <- b3 <- g4, g6
func testAfterSiblingOrder(t *testing.T, s queue.Store) {
	for _, how := range []string{"dead", "deleted"} {
		t.Run(how, func(t *testing.T) {
			a := insertOne(t, s, newJob(how))
			b2 := insertOne(t, s, after(newJob(how+"-b"), a))
			b3 := insertOne(t, s, after(newJob(how+"-b"), a))
			g4 := insertOne(t, s, after(newJob(how+"-g"), b3))
			g5 := insertOne(t, s, after(newJob(how+"-g"), b2))
			g6 := insertOne(t, s, after(newJob(how+"-g"), b3, b2))
			from := lastEventID(t, s)
			var want []step
			if how == "dead" {
				fail(t, s, t0, how)
				want = []step{{a, queue.StatePending, queue.StateRunning}, {a, queue.StateRunning, queue.StateDead}}
			} else if n, err := s.JobDelete(t.Context(), queue.JobFilter{IDs: []int64{a}, Now: t0}); err != nil || n != 1 {
				t.Fatalf("JobDelete = %d, %v", n, err)
			}
			for _, id := range []int64{b2, b3, g4, g5, g6} {
				want = append(want, step{id, queue.StateWaiting, queue.StateCancelled})
			}
			if got := stepsSince(t, s, from, a, b2, b3, g4, g5, g6); !slices.Equal(got, want) {
				t.Errorf("log =\n%v\nwant\n%v", got, want)
			}
			if j := get(t, s, g6); j.State != queue.StateCancelled || !names(j.LastError, b2) && !names(j.LastError, b3) {
				t.Errorf("job %d: %s, %q; want cancelled, naming %d or %d", g6, j.State, j.LastError, b2, b3)
			}
		})
	}
	// Deleting several jobs at once: their dependents, too, in ID order.
	x := insertOne(t, s, newJob("x"))
	y := insertOne(t, s, newJob("y"))
	cy := insertOne(t, s, after(newJob("cy"), y))
	cx := insertOne(t, s, after(newJob("cx"), x))
	from := lastEventID(t, s)
	if n, err := s.JobDelete(t.Context(), queue.JobFilter{IDs: []int64{x, y}, Now: t0}); err != nil || n != 2 {
		t.Fatalf("JobDelete = %d, %v", n, err)
	}
	want := []step{{cy, queue.StateWaiting, queue.StateCancelled}, {cx, queue.StateWaiting, queue.StateCancelled}}
	if got := stepsSince(t, s, from, cx, cy); !slices.Equal(got, want) {
		t.Errorf("log after deleting %d and %d =\n%v\nwant\n%v", x, y, got, want)
	}
	checkCounts(t, s, t0)
}
