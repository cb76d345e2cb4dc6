package queuetest

import (
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Claiming and finishing: order, limits, the attempt's record, fencing by run,
// when to look again.
var claimTests = []suiteTest{
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
	{"NextRunAt", testNextRunAt},
	{"ClaimAheadStopsAtLastAttempt", testClaimAheadStopsAtLastAttempt},
	{"ClaimAheadStopsAtLastAttemptAcrossQueues", testClaimAheadStopsAtLastAttemptAcrossQueues},
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
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Attempt: 1, Worker: "host-b:7", StartedAt: now})
}

func checkAttempt(t *testing.T, got, want queue.Attempt) {
	t.Helper()
	if got.JobID != want.JobID || got.Attempt != want.Attempt || got.Worker != want.Worker ||
		!sameTime(got.StartedAt, want.StartedAt) || !sameTime(got.FinishedAt, want.FinishedAt) ||
		!sameInt(got.ExitCode, want.ExitCode) || got.Signal != want.Signal || got.Error != want.Error ||
		string(got.Output) != string(want.Output) {
		t.Errorf("attempt = {job %d attempt %d worker %q started %v finished %v exit %v signal %q error %q output %q}\n"+
			"     want {job %d attempt %d worker %q started %v finished %v exit %v signal %q error %q output %q}",
			got.JobID, got.Attempt, got.Worker, got.StartedAt, got.FinishedAt, showInt(got.ExitCode), got.Signal, got.Error, got.Output,
			want.JobID, want.Attempt, want.Worker, want.StartedAt, want.FinishedAt, showInt(want.ExitCode), want.Signal, want.Error, want.Output)
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
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, ExitCode: intp(0), Output: output})
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
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, Signal: "SIGKILL", Error: "killed by SIGKILL", Output: []byte("bye\n")})
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
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, ExitCode: intp(2), Error: "exit status 2", Output: []byte("oops\n")})
	checkAttempt(t, as[1], queue.Attempt{JobID: id, Attempt: 2, Worker: "host-b:7", StartedAt: retryAt, FinishedAt: end2, ExitCode: intp(0), Output: []byte("ok\n")})
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
	checkAttempt(t, as[0], queue.Attempt{JobID: id, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, Signal: "SIGTERM", Error: queue.ErrShutdown.Error()})
	checkAttempt(t, as[1], queue.Attempt{JobID: id, Attempt: 2, Worker: worker, StartedAt: end})
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

// NextRunAt is when the earliest job that waits for its time (scheduled,
// or retrying after its backoff) in the claimed queues falls due.
func testNextRunAt(t *testing.T, s queue.Store) {
	at := func(q string, st queue.State, d time.Duration) queue.JobInsertParams {
		p := newJob(q)
		p.State, p.RunAt = st, t0.Add(d)
		return p
	}
	dep := insertOne(t, s, newJob("q1"))
	claimOne(t, s, t0, "q1") // stays running, for the waiting job below
	hour := insertOne(t, s, at("q1", queue.StateScheduled, time.Hour))
	retry := insertOne(t, s, newJob("q2"))
	j := claimOne(t, s, t0, "q2")
	finish(t, s, t0, queue.JobFinishParams{ID: retry, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0.Add(30 * time.Minute), FinishedAt: t0, ExitCode: intp(1)})
	soon := insertOne(t, s, at("q3", queue.StateScheduled, 10*time.Minute))
	// Neither a job waiting for a dependency nor a cancelled one falls due.
	waiting := insertOne(t, s, after(at("q3", queue.StateScheduled, 5*time.Minute), dep))
	gone := insertOne(t, s, at("q3", queue.StateScheduled, 5*time.Minute))
	cancel(t, s, t0, gone)
	due := insertOne(t, s, at("q4", queue.StateScheduled, 0))
	// A job due at Now that a pause keeps from running is not next either:
	// a worker told to look again at Now would spin.
	insertOne(t, s, at("paused", queue.StateScheduled, 0))
	queueSet(t, s, queue.QueueSetParams{Name: "paused", Paused: boolp(true)})
	if st := get(t, s, waiting).State; st != queue.StateWaiting {
		t.Fatalf("job with a running dependency is %s, want waiting", st)
	}

	steps := []struct {
		now     time.Time
		queues  []string
		claimed []int64
		next    time.Time
	}{
		{t0, []string{"q1", "q2"}, nil, t0.Add(30 * time.Minute)},
		{t0, []string{"q1"}, nil, t0.Add(time.Hour)},
		{t0, []string{"q4"}, []int64{due}, time.Time{}}, // due at Now: claimed, not next
		{t0, []string{"nothing-here"}, nil, time.Time{}},
		{t0, nil, nil, t0.Add(10 * time.Minute)},
		{t0.Add(10 * time.Minute), nil, []int64{soon}, t0.Add(30 * time.Minute)},
		{t0.Add(30 * time.Minute), nil, []int64{retry}, t0.Add(time.Hour)},
		{t0.Add(time.Hour), nil, []int64{hour}, time.Time{}},
	}
	for _, st := range steps {
		res := claim(t, s, queue.JobClaimParams{Queues: st.queues, Limit: 10, Now: st.now})
		var ids []int64
		for _, j := range res.Jobs {
			ids = append(ids, j.ID)
		}
		if !slices.Equal(ids, st.claimed) || !sameTime(res.NextRunAt, st.next) {
			t.Errorf("claim of %v at t0%+v: claimed %v, NextRunAt %v; want %v, %v", st.queues, st.now.Sub(t0), ids, res.NextRunAt, st.claimed, st.next)
		}
	}
}

// A claim ahead of free slots (JobClaimParams.Ahead) never takes a job on
// its last attempt: past the first Limit-Ahead jobs in claim order it
// stops at one, and the claim order is kept (no job behind it is taken
// ahead instead). Within the free slots a last attempt is claimed as any
// job. Both ways a store claims: a plain queue, and a limited one
// (counted allowances).
func testClaimAheadStopsAtLastAttempt(t *testing.T, s queue.Store) {
	for _, q := range []string{"plain", "limited"} {
		if q == "limited" {
			queueSet(t, s, queue.QueueSetParams{Name: q, Concurrency: intp(100)})
		}
		job := func(maxAttempts int, runAt time.Duration) queue.JobInsertParams {
			p := newJob(q)
			p.MaxAttempts, p.RunAt = maxAttempts, t0.Add(runAt)
			return p
		}
		ids := insert(t, s,
			job(3, -5*time.Second), // 0
			job(1, -4*time.Second), // 1: its only attempt
			job(3, -3*time.Second), // 2
			job(2, -2*time.Second), // 3: a retry's last attempt, once 3 failed
			job(3, -1*time.Second), // 4
		)
		// Job 3 fails once: its next claim is its last attempt.
		j3 := claim(t, s, queue.JobClaimParams{Queues: []string{q}, Limit: 5, Now: t0})
		var rest []queue.JobFinishParams
		for _, j := range j3.Jobs {
			p := queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StatePending, Attempts: 0,
				FinishedAt: t0, Error: "not started", Output: []byte{}, Unstarted: true}
			if j.ID == ids[3] {
				p = queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0.Add(-2 * time.Second),
					FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1", Output: []byte{}}
			}
			rest = append(rest, p)
		}
		finish(t, s, t0, rest...)

		claimAhead := func(limit, ahead int) []int64 {
			res := claim(t, s, queue.JobClaimParams{Queues: []string{q}, Limit: limit, Ahead: ahead, Now: t0})
			var got []int64
			for _, j := range res.Jobs {
				got = append(got, j.ID)
			}
			// Hand them all back, unstarted, for the next case.
			var back []queue.JobFinishParams
			for _, j := range res.Jobs {
				back = append(back, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StatePending,
					FinishedAt: t0, Error: "not started", Output: []byte{}, Unstarted: true})
			}
			finish(t, s, t0, back...)
			return got
		}
		for _, tt := range []struct {
			limit, ahead int
			want         []int64
		}{
			{5, 0, ids},     // nothing ahead: last attempts too
			{5, 4, ids[:1]}, // one free slot: 0, then it stops at 1
			{5, 3, ids[:3]}, // two: 1 is in them; it stops at 3
			{5, 1, ids},     // four: 3 is in them; 4, ahead, is no last attempt
			{3, 3, ids[:1]}, // all ahead: 0, then it stops at 1
			{2, 7, ids[:1]}, // Ahead beyond Limit: all ahead
		} {
			if got := claimAhead(tt.limit, tt.ahead); !slices.Equal(got, tt.want) {
				t.Errorf("queue %s, limit %d, ahead %d: claimed %v, want %v (jobs %v; %d and %d on their last attempt)",
					q, tt.limit, tt.ahead, got, tt.want, ids, ids[1], ids[3])
			}
		}
	}
}

// A claim ahead of free slots that reads several queues stops at a last
// attempt in claim order across them: with one free slot of four, it
// claims the first job and none after the last attempt, even those of
// another queue. Both ways a store claims: plain queues, and limited ones
// (counted allowances; PostgreSQL's claim a step at a time).
func testClaimAheadStopsAtLastAttemptAcrossQueues(t *testing.T, s queue.Store) {
	for _, kind := range []string{"plain", "limited"} {
		a, b := kind+"-a", kind+"-b"
		if kind == "limited" {
			queueSet(t, s, queue.QueueSetParams{Name: a, Concurrency: intp(100)})
			queueSet(t, s, queue.QueueSetParams{Name: b, Concurrency: intp(100)})
		}
		job := func(q string, maxAttempts int, runAt time.Duration) queue.JobInsertParams {
			p := newJob(q)
			p.MaxAttempts, p.RunAt = maxAttempts, t0.Add(runAt)
			return p
		}
		ids := insert(t, s,
			job(a, 3, -5*time.Second),
			job(b, 1, -4*time.Second), // its only attempt
			job(a, 3, -3*time.Second),
			job(b, 3, -2*time.Second),
		)
		res := claim(t, s, queue.JobClaimParams{Queues: []string{a, b}, Limit: 4, Ahead: 3, Now: t0})
		var got []int64
		for _, j := range res.Jobs {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, ids[:1]) {
			t.Errorf("%s queues, limit 4, ahead 3: claimed %v, want %v (jobs %v; %d on its last attempt)",
				kind, got, ids[:1], ids, ids[1])
		}
	}
}
