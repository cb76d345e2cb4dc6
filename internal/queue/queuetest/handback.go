package queuetest

import (
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Handing back: a job its worker returns, run or never started.
var handBackTests = []suiteTest{
	{"HandBackCancelRequested", testHandBackCancelRequested},
	{"HandBackUnstarted", testHandBackUnstarted},
	{"HandBackUnstartedCancelRequested", testHandBackUnstartedCancelRequested},
	{"HandBackUnstartedRetryingCancelRequested", testHandBackUnstartedRetryingCancelRequested},
	{"HandBackAfterSkippedTick", testHandBackAfterSkippedTick},
	{"HandBackReportsCancelled", testHandBackReportsCancelled},
}

// A job handed back (pending) after jobq cancel asked to stop it ends
// cancelled, and so do the jobs waiting for it: the cancel is not
// forgotten, and the job never runs again.
func testHandBackCancelRequested(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	waiting := insertOne(t, s, after(newJob("default"), id))
	j := claimOne(t, s, t0, "default")
	cancel(t, s, t0, id)
	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StatePending, Attempts: j.Attempts - 1, RunAt: end,
		FinishedAt: end, Signal: "SIGTERM", Error: queue.ErrShutdown.Error(),
	})
	if got := get(t, s, id); got.State != queue.StateCancelled || got.CancelRequested || !got.FinishedAt.Equal(end) {
		t.Errorf("handed back after a cancel: state %s, cancel requested %v, finished %v; want cancelled at %v",
			got.State, got.CancelRequested, got.FinishedAt, end)
	}
	if got := get(t, s, waiting); got.State != queue.StateCancelled {
		t.Errorf("the job waiting for it is %s, want cancelled", got.State)
	}
	if got := claimIDs(t, s, end.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("claimed %v after the cancelled job was handed back", got)
	}
}

// A job handed back Unstarted (its command never ran) leaves no trace of
// a run: its run and attempts go back, its attempt row is removed, and
// its next claim is attempt 1 again. The events show the claim and the
// hand-back (running to pending, with its error and the run as it now
// is), nothing else.
func testHandBackUnstarted(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	before := get(t, s, id)
	from := lastEventID(t, s)
	j := claimOne(t, s, t0, "default")
	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StatePending, Attempts: j.Attempts - 1, RunAt: end,
		FinishedAt: end, Error: "not started: " + queue.ErrShutdown.Error(), Output: []byte{}, Unstarted: true,
	})
	got := get(t, s, id)
	want := *before
	want.LastError = got.LastError
	checkJob(t, got, &want)
	if as := attempts(t, s, id); len(as) != 0 {
		t.Errorf("history after a hand-back unstarted: %+v, want no attempt", as)
	}
	evs, err := s.EventList(t.Context(), queue.EventListParams{JobID: id, AfterID: from})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].To != queue.StateRunning || evs[0].Attempt != 1 ||
		evs[1].From != queue.StateRunning || evs[1].To != queue.StatePending || evs[1].Attempt != 0 || evs[1].Error == "" {
		t.Errorf("events %+v; want the claim (attempt 1) and the hand-back to pending (attempt 0, with its error)", evs)
	}
	j2 := claimOne(t, s, end, "default")
	if j2.Attempts != 1 || j2.Run != 1 {
		t.Errorf("claimed again: attempts %d run %d; want 1, 1", j2.Attempts, j2.Run)
	}
	if as := attempts(t, s, id); len(as) != 1 || as[0].Attempt != 1 || !as[0].StartedAt.Equal(end) {
		t.Errorf("history once claimed again: %+v, want attempt 1 started at %v", as, end)
	}

	// After a real attempt, an unstarted one goes back to it, and to the
	// state it was claimed from: retrying, its run_at (its backoff's end)
	// kept.
	fin := end.Add(time.Second)
	finish(t, s, fin, queue.JobFinishParams{ID: id, Run: j2.Run, State: queue.StateRetrying, Attempts: 1, RunAt: fin,
		FinishedAt: fin, ExitCode: intp(1), Error: "exit status 1", Output: []byte("x\n"), OutputSize: 2})
	after := get(t, s, id)
	from = lastEventID(t, s)
	j3 := claimOne(t, s, fin, "default")
	finish(t, s, fin, queue.JobFinishParams{ID: id, Run: j3.Run, State: queue.StatePending, Attempts: j3.Attempts - 1,
		FinishedAt: fin.Add(time.Second), Error: "not started", Output: []byte{}, Unstarted: true})
	got = get(t, s, id)
	if got.State != queue.StateRetrying || got.Run != after.Run || got.Attempts != after.Attempts || !got.StartedAt.Equal(after.StartedAt) || !got.RunAt.Equal(after.RunAt) {
		t.Errorf("unstarted after attempt 1: state %s run %d attempts %d started %v run_at %v; want retrying, %d, %d, %v, %v",
			got.State, got.Run, got.Attempts, got.StartedAt, got.RunAt, after.Run, after.Attempts, after.StartedAt, after.RunAt)
	}
	if as := attempts(t, s, id); len(as) != 1 || !sameInt(as[0].ExitCode, intp(1)) {
		t.Errorf("history: %+v, want only the failed attempt 1", as)
	}
	evs, err = s.EventList(t.Context(), queue.EventListParams{JobID: id, AfterID: from})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].From != queue.StateRetrying || evs[0].To != queue.StateRunning || evs[0].Attempt != 2 ||
		evs[1].From != queue.StateRunning || evs[1].To != queue.StateRetrying || evs[1].Attempt != 1 || evs[1].Error != "not started" {
		t.Errorf("events %+v; want retrying to running (attempt 2), running to retrying (attempt 1, not started)", evs)
	}
	// It is claimed again as the retry it is: attempt 2.
	if j4 := claimOne(t, s, fin.Add(2*time.Second), "default"); j4.Attempts != 2 || j4.Run != 2 {
		t.Errorf("claimed again: attempts %d run %d; want 2, 2", j4.Attempts, j4.Run)
	}
}

// A retrying job whose cancel was requested while it was claimed ahead
// ends cancelled when handed back unstarted, in the hand-back's own
// statement: finished, with the error "cancelled", however the worker
// handed it back.
func testHandBackUnstartedRetryingCancelRequested(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	waiting := insertOne(t, s, after(newJob("default"), id))
	j := claimOne(t, s, t0, "default")
	fin := t0.Add(time.Second)
	finish(t, s, fin, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: fin,
		FinishedAt: fin, ExitCode: intp(1), Error: "exit status 1", Output: []byte{}, OutputSize: 0})
	j2 := claimOne(t, s, fin, "default")
	cancel(t, s, fin, id)
	end := fin.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{ID: id, Run: j2.Run, State: queue.StatePending, Attempts: j2.Attempts - 1,
		FinishedAt: end, Error: "not started: no slot freed soon", Output: []byte{}, Unstarted: true})
	got := get(t, s, id)
	if got.State != queue.StateCancelled || got.Run != 1 || got.Attempts != 1 || got.CancelRequested ||
		!got.FinishedAt.Equal(end) || got.LastError != queue.ErrCancelled.Error() {
		t.Errorf("unstarted retry after a cancel: state %s run %d attempts %d cancel requested %v finished %v error %q; want cancelled, 1, 1, false, %v, %q",
			got.State, got.Run, got.Attempts, got.CancelRequested, got.FinishedAt, got.LastError, end, queue.ErrCancelled.Error())
	}
	if got := get(t, s, waiting); got.State != queue.StateCancelled {
		t.Errorf("the job waiting for it is %s, want cancelled", got.State)
	}
}

// A job handed back Unstarted after jobq cancel asked to stop it ends
// cancelled, with no run of its own.
func testHandBackUnstartedCancelRequested(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	j := claimOne(t, s, t0, "default")
	cancel(t, s, t0, id)
	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{
		ID: id, Run: j.Run, State: queue.StatePending, Attempts: j.Attempts - 1,
		FinishedAt: end, Error: "not started: " + queue.ErrShutdown.Error(), Output: []byte{}, Unstarted: true,
	})
	got := get(t, s, id)
	if got.State != queue.StateCancelled || got.Run != 0 || got.Attempts != 0 || got.CancelRequested {
		t.Errorf("unstarted after a cancel: state %s run %d attempts %d cancel requested %v; want cancelled, 0, 0",
			got.State, got.Run, got.Attempts, got.CancelRequested)
	}
	if as := attempts(t, s, id); len(as) != 0 {
		t.Errorf("history: %+v, want none", as)
	}
}

// A retry handed back unstarted goes back to retrying even when a tick of
// its schedule (--overlap skip) was skipped while it was claimed: the
// skip is logged on the job as running to running, after its claim, and
// the hand-back must find the claim's own event, not the job's last.
func testHandBackAfterSkippedTick(t *testing.T, s queue.Store) {
	sc := newSchedule("skipper")
	sc.Overlap = queue.OverlapSkip
	addSchedule(t, s, sc)
	res := fire(t, s, t0)
	if len(res.Fired) != 1 || res.Fired[0].JobID == 0 {
		t.Fatalf("first fire = %+v, want a job", res.Fired)
	}
	id := res.Fired[0].JobID
	j := claimOne(t, s, t0, "skipper")
	if j.ID != id {
		t.Fatalf("claimed %d, want %d", j.ID, id)
	}
	fin := t0.Add(time.Second)
	finish(t, s, fin, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: fin,
		FinishedAt: fin, ExitCode: intp(1), Error: "exit status 1", Output: []byte{}})
	j2 := claimOne(t, s, fin, "skipper") // the retry, claimed (ahead)
	if res := fire(t, s, t0.Add(time.Minute)); len(res.Fired) != 1 || !res.Fired[0].Skipped {
		t.Fatalf("second fire = %+v, want the tick skipped", res.Fired)
	}
	end := t0.Add(time.Minute + time.Second)
	finish(t, s, end, queue.JobFinishParams{ID: id, Run: j2.Run, State: queue.StatePending, Attempts: j2.Attempts - 1,
		FinishedAt: end, Error: "not started: no slot freed soon", Output: []byte{}, Unstarted: true})
	if got := get(t, s, id); got.State != queue.StateRetrying {
		t.Errorf("a retry handed back unstarted after a skipped tick: %s, want retrying (as without the tick)", got.State)
	}
}

// The hand-backs (pending) a store ends cancelled, their cancel requested,
// are reported (JobClaimResult.Cancelled), in the order of Finish, for
// the worker to count and log them as cancelled: run or never started.
// Not the hand-backs that went back, nor one the worker itself handed
// back cancelled, nor one it no longer held.
func testHandBackReportsCancelled(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("default"), newJob("default"), newJob("default"), newJob("default"), newJob("default"))
	res := claim(t, s, queue.JobClaimParams{Queues: []string{"default"}, Limit: 5, Now: t0})
	if len(res.Jobs) != 5 {
		t.Fatalf("claimed %d jobs, want 5", len(res.Jobs))
	}
	run := map[int64]int{}
	for _, j := range res.Jobs {
		run[j.ID] = j.Run
	}
	cancel(t, s, t0, ids[0], ids[1], ids[3], ids[4])
	end := t0.Add(time.Second)
	back := func(i int, st queue.State, unstarted bool) queue.JobFinishParams {
		return queue.JobFinishParams{ID: ids[i], Run: run[ids[i]], State: st, FinishedAt: end,
			Error: "stopped", Output: []byte{}, Unstarted: unstarted}
	}
	lost := back(4, queue.StatePending, true)
	lost.Run++
	got := claim(t, s, queue.JobClaimParams{Now: end, Finish: []queue.JobFinishParams{
		back(1, queue.StatePending, true),   // never started: cancelled by the store
		back(0, queue.StatePending, false),  // ran: cancelled by the store
		back(2, queue.StatePending, true),   // no cancel: back to pending
		back(3, queue.StateCancelled, true), // cancelled by the worker
		lost,                                // not held
	}})
	if want := []int64{ids[1], ids[0]}; !slices.Equal(got.Cancelled, want) || !slices.Equal(got.Lost, []int64{ids[4]}) {
		t.Errorf("cancelled %v, lost %v; want %v, [%d]", got.Cancelled, got.Lost, want, ids[4])
	}
	for i, want := range []queue.State{queue.StateCancelled, queue.StateCancelled, queue.StatePending, queue.StateCancelled, queue.StateRunning} {
		if j := get(t, s, ids[i]); j.State != want {
			t.Errorf("job %d: %s, want %s", ids[i], j.State, want)
		}
	}
}
