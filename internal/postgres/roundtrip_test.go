package postgres

import (
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

// TestClaimRoundTrips: a claim that records the outcomes of the jobs the
// last one took and claims more is one round trip to the server
// (claimFast); one that meets a limited queue is made a step at a time,
// and still right, as is the next one, of a limit below none (a runner
// with more jobs claimed ahead than free slots asks for that): it claims
// nothing. It counts round trips (a pgx tracer), not time.
func TestClaimRoundTrips(t *testing.T) {
	t.Parallel()
	var trips roundTrips
	url := pgtest.NewDatabase(t)
	s, err := Open(t.Context(), url, Options{BusyTimeout: 5 * time.Second, tracer: &trips})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs := make([]queue.JobInsertParams, 6)
	for i := range jobs {
		jobs[i] = testJob("default")
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(jobs...)); err != nil {
		t.Fatal(err)
	}
	zero := 0
	claim := func(finish []*queue.Job, limit int) (*queue.JobClaimResult, int64) {
		t.Helper()
		var params []queue.JobFinishParams
		for _, job := range finish {
			params = append(params, queue.JobFinishParams{ID: job.ID, Run: job.Run, State: queue.StateSucceeded,
				Attempts: job.Attempts, FinishedAt: t0, ExitCode: &zero, Output: []byte{}})
		}
		before := trips.n.Load()
		res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Finish: params, Limit: limit, Worker: "w",
			Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Lost) != 0 {
			t.Fatalf("lost %v", res.Lost)
		}
		return res, trips.n.Load() - before
	}
	first, n := claim(nil, 2)
	if len(first.Jobs) != 2 || n != 1 {
		t.Errorf("first claim: %d jobs in %d round trips, want 2 in 1", len(first.Jobs), n)
	}
	second, n := claim(first.Jobs, 2)
	if len(second.Jobs) != 2 || n != 1 {
		t.Errorf("finish 2 and claim 2: %d jobs in %d round trips, want 2 in 1", len(second.Jobs), n)
	}
	// A limited queue holding ready jobs: the claim counts its allowance
	// a step at a time, after the outcomes it records (before them, the
	// two jobs still running would leave it none).
	if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "default", Concurrency: new(1)}); err != nil {
		t.Fatal(err)
	}
	third, n := claim(second.Jobs, 5)
	if len(third.Jobs) != 1 || n < 2 {
		t.Errorf("a limited queue's claim: %d jobs in %d round trips, want 1 (its limit) in 2 or more", len(third.Jobs), n)
	}
	// The fast path's batch thrown away and the claim made again: each
	// outcome recorded once, none lost (claim) or doubled.
	conn := connect(t, url)
	var ends, events int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT coalesce(sum(n), 0) FROM job_ends WHERE state = 'succeeded'),
		(SELECT count(*) FROM events WHERE to_state = 'succeeded')`).Scan(&ends, &events); err != nil {
		t.Fatal(err)
	}
	if ends != 4 || events != 4 {
		t.Errorf("after 4 successes: job_ends counts %d, events %d; want 4 each", ends, events)
	}
	if res, _ := claim(third.Jobs, -1); len(res.Jobs) != 0 || !res.NextRunAt.IsZero() {
		t.Errorf("a claim of -1 jobs: claimed %d, next run %v; want none", len(res.Jobs), res.NextRunAt)
	}
}
