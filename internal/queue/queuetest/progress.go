package queuetest

import (
	"errors"
	"testing"

	"github.com/jobq/jobq/internal/queue"
)

// Progress reported from inside a running job.
var progressTests = []suiteTest{
	{"Progress", testProgress},
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

	// After a retry the budget starts again (Attempts 1) but the run goes
	// on: a process of run 1 left behind cannot report for run 3.
	j = get(t, s, id)
	finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"})
	retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{id}, Now: t0}})
	j = claimOne(t, s, t0, "p")
	if j.Attempts != 1 || j.Run != 3 {
		t.Fatalf("claimed after a retry: attempts %d, run %d; want 1, 3", j.Attempts, j.Run)
	}
	if err := report(id, 1, 66); !errors.Is(err, queue.ErrNotRunning) {
		t.Errorf("progress of run 1 while run 3 runs: %v; want ErrNotRunning", err)
	}
	if err := report(id, 3, 77); err != nil {
		t.Errorf("progress of run 3: %v", err)
	}
	if p := get(t, s, id).Progress; p == nil || p.Percent != 77 {
		t.Errorf("progress = %+v, want run 3's 77%%", p)
	}
}
