package queuetest

import (
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Handing back: a job its worker returns, run or never started.
var handBackTests = []suiteTest{
	{"HandBackCancelRequested", testHandBackCancelRequested},
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
