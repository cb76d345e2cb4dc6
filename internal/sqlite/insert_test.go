package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestInsertAllOrNothing: a failure part way through a batch leaves
// nothing behind.
func TestInsertAllOrNothing(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.JobInsert(ctx, queue.Jobs(testJob("default"), testJob("default"))); err == nil {
		t.Fatal("JobInsert with a cancelled context succeeded")
	}
	// A trigger that refuses the third row makes the batch fail part way.
	if _, err := s.writer.Exec(`CREATE TEMP TRIGGER fail_third BEFORE INSERT ON jobs
		WHEN new.queue = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := s.JobInsert(t.Context(), queue.Jobs(testJob("a"), withUnique(testJob("b"), "k"), testJob("poison")))
	if err == nil || !strings.Contains(err.Error(), "poisoned") {
		t.Fatalf("JobInsert with a poisoned row: %v", err)
	}
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: t0})
	if err != nil || len(jobs) != 0 {
		t.Errorf("after the failed batch: %d jobs, %v; want none", len(jobs), err)
	}
	var n int
	if err := s.reader.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the failed batch: %d events, %v; want none", n, err)
	}
}

func withUnique(p queue.JobInsertParams, key string) queue.JobInsertParams {
	p.UniqueKey = key
	return p
}

// TestInsertWaitingState: a caller that passes State waiting itself gets
// the state the dependencies call for, not a panic or a job that waits
// for ever.
func TestInsertWaitingState(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, queue.Jobs(testJob("dead"), testJob("ok")))
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
	got, err := s.JobInsert(ctx, queue.Jobs(waiting(ids[0]), waiting(ids[1])))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []queue.State{queue.StateCancelled, queue.StatePending} {
		if j, err := s.JobGet(ctx, got[i]); err != nil || j.State != want {
			t.Errorf("job %d inserted waiting: %v, %v; want %s", i, j.State, err, want)
		}
	}
}
