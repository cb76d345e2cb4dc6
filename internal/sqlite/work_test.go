package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestWait: a store waiting notices a commit of another process (another
// store on the same file) at once, and otherwise sleeps its whole d.
func TestWait(t *testing.T) {
	t.Parallel()
	// open returns two stores on one file, the first primed: its first Wait
	// returns at once by design, having seen nothing before.
	open := func(t *testing.T) (waiter, other *Store) {
		t.Helper()
		waiter, path := setup(t)
		other, err := Open(t.Context(), path, Options{BusyTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		start := time.Now()
		if err := waiter.Wait(t.Context(), time.Minute); err != nil {
			t.Fatalf("first Wait: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("first Wait took %v, want it to return at once", d)
		}
		return waiter, other
	}

	t.Run("another store inserts", func(t *testing.T) {
		t.Parallel()
		waiter, other := open(t)
		inserted := make(chan error, 1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			_, err := other.JobInsert(context.Background(), []queue.JobInsertParams{testJob("default")})
			inserted <- err
		}()
		const d = time.Minute
		took, err := timedWait(t.Context(), t, waiter, d)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if took > d/3 {
			t.Errorf("Wait returned after %v, not promptly after the insert", took)
		}
		if err := <-inserted; err != nil {
			t.Fatal(err)
		}
		// It returned because of the insert: the new job is there.
		if jobs, err := waiter.JobList(t.Context(), queue.JobListParams{Now: t0}); err != nil || len(jobs) != 1 {
			t.Errorf("after Wait: %d jobs, %v; want the one inserted", len(jobs), err)
		}
	})

	t.Run("nothing changes", func(t *testing.T) {
		t.Parallel()
		waiter, other := open(t)
		// Reading is no change.
		if _, err := other.JobList(t.Context(), queue.JobListParams{Now: t0}); err != nil {
			t.Fatal(err)
		}
		const d = 500 * time.Millisecond
		took, err := timedWait(t.Context(), t, waiter, d)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if took < d-100*time.Millisecond {
			t.Errorf("Wait(%v) with nothing changed returned after %v", d, took)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		waiter, _ := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		// Between two looks of a polling Wait, so that it is the wait
		// between them, not a look, that must notice.
		time.AfterFunc(137*time.Millisecond, cancel)
		took, err := timedWait(ctx, t, waiter, time.Minute)
		if took > 20*time.Second {
			t.Errorf("Wait returned %v after the context was cancelled", took)
		}
		if !errors.Is(err, context.Canceled) || err != ctx.Err() {
			t.Errorf("Wait = %v, want ctx.Err() (%v)", err, ctx.Err())
		}
		if _, err := timedWait(ctx, t, waiter, time.Minute); err != ctx.Err() {
			t.Errorf("Wait with a done context = %v, want ctx.Err()", err)
		}
	})
}

// timedWait calls s.Wait and says how long it took; it fails the test
// rather than hang when Wait does not return well after d.
func timedWait(ctx context.Context, t *testing.T, s *Store, d time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx, d) }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(d + 30*time.Second):
		t.Fatalf("Wait(%v) has not returned after %v", d, time.Since(start))
		return 0, nil
	}
}

// TestEventsOfWork: the events table gets one row per transition, also for
// those the dependency triggers make and for leases taken back, each
// logged after the transition that caused it.
func TestEventsOfWork(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	insert := func(p queue.JobInsertParams, after ...int64) int64 {
		t.Helper()
		p.After = after
		ids, err := s.JobInsert(ctx, []queue.JobInsertParams{p})
		if err != nil {
			t.Fatal(err)
		}
		return ids[0]
	}
	cancel := func(id int64) {
		t.Helper()
		if _, err := s.JobCancel(ctx, queue.JobCancelParams{IDs: []int64{id}, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}

	// a succeeds: b and c go on; d, after b, is cancelled with it.
	a := insert(testJob("a"))
	b := insert(testJob("b"), a)
	c := insert(testJob("c"), a)
	d := insert(testJob("d"), b)
	ja := claimOne(t, s, t0, "a")
	finishOne(t, s, queue.JobFinishParams{ID: a, Run: ja.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0})
	cancel(b)

	// e's worker is lost on its last attempt: e goes dead, f with it.
	pe := testJob("e")
	pe.MaxAttempts = 2
	e := insert(pe)
	f := insert(testJob("f"), e)
	claimOne(t, s, t0, "e")
	expire := func(now time.Time) {
		t.Helper()
		if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: now, Worker: "w2", Expired: func(j *queue.Job) queue.JobFinishParams {
			return queue.LeaseExpired(j, now, 0.5)
		}}); err != nil {
			t.Fatal(err)
		}
	}
	expire(t0.Add(time.Minute))
	claimOne(t, s, t0.Add(2*time.Minute), "e")
	expire(t0.Add(3 * time.Minute))

	// g comes after a job already dead: waiting, then cancelled at once.
	g := insert(testJob("g"), e)

	// h is cancelled while running: no event until its worker stops it.
	h := insert(testJob("h"))
	jh := claimOne(t, s, t0, "h")
	cancel(h)
	if _, err := s.JobHeartbeat(ctx, queue.JobHeartbeatParams{Worker: "w1", LeaseUntil: t0.Add(time.Hour), Jobs: []queue.JobRef{{ID: h, Run: jh.Run}}}); err != nil {
		t.Fatal(err)
	}
	finishOne(t, s, queue.Decide(jh, queue.Result{Cancelled: true, Error: queue.ErrCancelled.Error(), FinishedAt: t0}, 0.5))

	lost := "worker lost: lease expired"
	depFailed := func(id int64, state string) string { return fmt.Sprintf("dependency %d ended %s", id, state) }
	want := map[int64][]event{
		a: {{"", "pending", 0, "", ""}, {"pending", "running", 1, "w1", ""}, {"running", "succeeded", 1, "", ""}},
		b: {{"", "waiting", 0, "", ""}, {"waiting", "pending", 0, "", ""}, {"pending", "cancelled", 0, "", "cancelled"}},
		c: {{"", "waiting", 0, "", ""}, {"waiting", "pending", 0, "", ""}},
		d: {{"", "waiting", 0, "", ""}, {"waiting", "cancelled", 0, "", depFailed(b, "cancelled")}},
		e: {{"", "pending", 0, "", ""}, {"pending", "running", 1, "w1", ""}, {"running", "retrying", 1, "", lost},
			{"retrying", "running", 2, "w1", ""}, {"running", "dead", 2, "", lost}},
		f: {{"", "waiting", 0, "", ""}, {"waiting", "cancelled", 0, "", depFailed(e, "dead")}},
		g: {{"", "waiting", 0, "", ""}, {"waiting", "cancelled", 0, "", depFailed(e, "dead")}},
		h: {{"", "pending", 0, "", ""}, {"pending", "running", 1, "w1", ""}, {"running", "cancelled", 1, "", queue.ErrCancelled.Error()}},
	}
	for _, id := range []int64{a, b, c, d, e, f, g, h} {
		if got := events(t, s, id); !slices.Equal(got, want[id]) {
			t.Errorf("events of job %d =\n%v\nwant\n%v", id, got, want[id])
		}
	}

	// The log reads in order: a cause before its effects.
	for _, tt := range []struct {
		cause, effect eventRef
	}{
		{eventRef{a, "succeeded"}, eventRef{b, "pending"}},
		{eventRef{a, "succeeded"}, eventRef{c, "pending"}},
		{eventRef{b, "cancelled"}, eventRef{d, "cancelled"}},
		{eventRef{e, "dead"}, eventRef{f, "cancelled"}},
	} {
		ce, ee := eventID(t, s, tt.cause), eventID(t, s, tt.effect)
		if ce >= ee {
			t.Errorf("job %d %s is event %d, logged before its cause, job %d %s (event %d)",
				tt.effect.job, tt.effect.to, ee, tt.cause.job, tt.cause.to, ce)
		}
	}
}

type eventRef struct {
	job int64
	to  string
}

func eventID(t *testing.T, s *Store, e eventRef) int64 {
	t.Helper()
	var id int64
	if err := s.reader.QueryRow("SELECT id FROM events WHERE job_id = ? AND to_state = ?", e.job, e.to).Scan(&id); err != nil {
		t.Fatalf("event of job %d to %s: %v", e.job, e.to, err)
	}
	return id
}

// TestEventOrderSurvivesReopen: the order of the triggers, which decides
// the order of events, is the same once the schema is read back from disk.
func TestEventOrderSurvivesReopen(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	s.Close()
	s, err := Open(t.Context(), path, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("a")})
	if err != nil {
		t.Fatal(err)
	}
	p := testJob("b")
	p.After = ids
	ids, err = s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("a"), p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobCancel(t.Context(), queue.JobCancelParams{IDs: []int64{p.After[0]}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if ce, ee := eventID(t, s, eventRef{p.After[0], "cancelled"}), eventID(t, s, eventRef{ids[1], "cancelled"}); ce >= ee {
		t.Errorf("after reopening, the effect (event %d) is logged before its cause (event %d)", ee, ce)
	}
}

// TestInsertWaitingState: a caller that passes State waiting itself gets
// the state the dependencies call for, not a panic or a job that waits
// for ever.
func TestInsertWaitingState(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, []queue.JobInsertParams{testJob("dead"), testJob("ok")})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []queue.State{queue.StateDead, queue.StateSucceeded} {
		res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 1, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("claim: %v", err)
		}
		j := res.Jobs[0]
		if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: []queue.JobFinishParams{{ID: j.ID, Run: j.Run, State: st, Attempts: 1, FinishedAt: t0}}}); err != nil {
			t.Fatal(err)
		}
	}
	waiting := func(after int64) queue.JobInsertParams {
		p := testJob("x")
		p.State, p.After = queue.StateWaiting, []int64{after}
		return p
	}
	got, err := s.JobInsert(ctx, []queue.JobInsertParams{waiting(ids[0]), waiting(ids[1])})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []queue.State{queue.StateCancelled, queue.StatePending} {
		if j, err := s.JobGet(ctx, got[i]); err != nil || j.State != want {
			t.Errorf("job %d inserted waiting: %v, %v; want %s", i, j.State, err, want)
		}
	}
}

// TestWorkQueryPlans: taking back expired leases and deleting old jobs
// read their partial indexes, not the whole table; as jobq opens
// databases (no ANALYZE ever run), and also once statistics exist.
func TestWorkQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	deleteOne, deleteOneArgs := deleteJobs(queue.JobFilter{
		States: []queue.State{queue.StateSucceeded}, Before: t0, Limit: 10})
	deleteTwo, deleteTwoArgs := deleteJobs(queue.JobFilter{
		States: []queue.State{queue.StateDead, queue.StateCancelled}, Queues: []string{"q1"}, Before: t0, Limit: 10})
	check := func(t *testing.T) {
		t.Helper()
		for _, tt := range []struct {
			name, query, index string
			args               []any
		}{
			{"expired leases", expiredJobs, "jobs_lease", []any{1, 100}},
			{"delete", deleteOne, "jobs_finished", deleteOneArgs},
			{"delete of two states in a queue", deleteTwo, "jobs_finished", deleteTwoArgs},
		} {
			plan := explain(t, s, tt.query, tt.args...)
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "INDEX "+tt.index) {
				t.Errorf("%s does not use index %s:\n%s", tt.name, tt.index, text)
			}
			for _, line := range plan {
				if strings.Contains(line, "SCAN jobs") && !strings.Contains(line, "INDEX") {
					t.Errorf("%s scans the whole table: %q in\n%s", tt.name, line, text)
				}
			}
		}
	}
	t.Run("new database", check)

	var params []queue.JobInsertParams
	for i := range 2000 {
		params = append(params, testJob(fmt.Sprintf("q%d", i%5)))
	}
	if _, err := s.JobInsert(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	// Mostly final jobs, some running, as a long-lived queue holds.
	if _, err := s.writer.Exec(`UPDATE jobs SET state = CASE WHEN id % 10 = 0 THEN 'running' ELSE 'succeeded' END,
		finished_at = CASE WHEN id % 10 = 0 THEN NULL ELSE id END,
		lease_until = CASE WHEN id % 10 = 0 THEN id END`); err != nil {
		t.Fatal(err)
	}
	t.Run("mostly finished jobs", check)

	if _, err := s.writer.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	t.Run("analyzed", check)
}

// TestDeleteLeavesNoHistory: a deleted job leaves no row behind, in any
// table, while the jobs kept keep theirs.
func TestDeleteLeavesNoHistory(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, []queue.JobInsertParams{testJob("a"), testJob("b")})
	if err != nil {
		t.Fatal(err)
	}
	p := testJob("c")
	p.After = ids
	after, err := s.JobInsert(ctx, []queue.JobInsertParams{p})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 2, Queues: []string{"a", "b"}, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)})
	if err != nil || len(res.Jobs) != 2 {
		t.Fatalf("claim: %v", err)
	}
	var finish []queue.JobFinishParams
	for _, j := range res.Jobs {
		finish = append(finish, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: 1, FinishedAt: t0})
	}
	if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: finish}); err != nil {
		t.Fatal(err)
	}
	// c was cancelled with its dependencies: delete a and c, keep b.
	n, err := s.JobDelete(ctx, queue.JobFilter{States: []queue.State{queue.StateDead, queue.StateCancelled}, Queues: []string{"a", "c"}, Before: t0.Add(time.Second), Limit: 10})
	if err != nil || n != 2 {
		t.Fatalf("JobDelete = %d, %v; want 2", n, err)
	}
	for _, tt := range []struct {
		table, column string
		id            int64
		want          int
	}{
		{"attempts", "job_id", ids[0], 0},
		{"events", "job_id", ids[0], 0},
		{"events", "job_id", after[0], 0},
		{"job_deps", "job_id", after[0], 0},
		{"attempts", "job_id", ids[1], 1},
		{"events", "job_id", ids[1], 3},
	} {
		var got int
		if err := s.reader.QueryRow("SELECT count(*) FROM "+tt.table+" WHERE "+tt.column+" = ?", tt.id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s of job %d: %d rows, want %d", tt.table, tt.id, got, tt.want)
		}
	}
}
