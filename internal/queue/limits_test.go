package queue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestWorkRateLimit: a worker holds to a queue's rate limit, and starts
// the next job as soon as the limit lets it, not when it next looks for
// leases to take back (half a lease later).
func TestWorkRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rate, period := 2, time.Second
	if err := e.store.QueueSet(t.Context(), queue.QueueSetParams{Name: "default", Rate: &rate, RatePeriod: &period}); err != nil {
		t.Fatal(err)
	}
	var params []queue.JobInsertParams
	for range 6 {
		params = append(params, e.job("true"))
	}
	ids := e.insert(t, params...)
	r := e.runner(t, 4)
	r.Lease = 30 * time.Second

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := r.Work(ctx)
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
	}()
	var took time.Duration
	for {
		jobs, err := e.store.JobList(t.Context(), queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == len(ids) {
			took = time.Since(start)
			break
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("%d of %d jobs succeeded after %v", len(jobs), len(ids), time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// 6 jobs at 2 a second take about 2 s; looking again only every half
	// lease, 30 s.
	if took > 12*time.Second {
		t.Errorf("6 jobs at 2 a second took %v", took)
	}
	var started []time.Time
	for _, id := range ids {
		started = append(started, e.get(t, id).StartedAt)
	}
	slices.SortFunc(started, time.Time.Compare)
	for i := rate; i < len(started); i++ {
		if d := started[i].Sub(started[i-rate]); d < period {
			t.Errorf("jobs %d and %d started %v apart: more than %d in %v", i-rate+1, i+1, d, rate, period)
		}
	}
}

// TestWorkStopsAtOnceWhenIdle: an idle worker whose context is cancelled
// returns at once: it has no job to give Grace to, so it must not sleep
// out its wait (half a lease) first.
func TestWorkStopsAtOnceWhenIdle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.runner(t, 2)
	r.Lease, r.Grace = time.Minute, time.Minute
	for round := range 5 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := r.Work(ctx)
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // idle in its wait by now
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Work: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: an idle Work still runs 10s after its context was cancelled", round)
		}
	}
}
