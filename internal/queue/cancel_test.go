package queue_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// TestCancelRunningJobSoon: jobq cancel of a running job takes effect when
// the worker hears of the change, not at its next heartbeat. The lease is
// an hour, so the next heartbeat is twenty minutes away: only the worker's
// reaction to the change can stop the job before the test gives up.
func TestCancelRunningJobSoon(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.insert(t, e.job("touch started; sleep 60"))[0]
	r := e.runner(t, 1)
	r.Lease = time.Hour

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := r.Work(ctx)
		done <- err
	}()
	waitFor(filepath.Join(e.dir, "started"))

	// jobq cancel is another process: another connection to the file.
	other, err := sqlite.Open(t.Context(), filepath.Join(e.dir, "db", "jobq.db"), sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.JobCancel(t.Context(), queue.JobCancelParams{IDs: []int64{id}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(drainLimit); ; time.Sleep(20 * time.Millisecond) {
		if j := e.get(t, id); j.State.Final() {
			if j.State != queue.StateCancelled {
				t.Errorf("job ended %s, want cancelled", j.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s %v after it was cancelled", e.get(t, id).State, drainLimit)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Work: %v", err)
	}
}

// TestCancelJustBeforeClaim: a cancel that commits just before the
// runner's next claim still stops the job within about a second. The
// claim marks every commit so far as seen, so no Wait tells the runner of
// that one: the runner must look for cancels after claiming. The lease is
// an hour: the next heartbeat is twenty minutes away.
func TestCancelJustBeforeClaim(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := e.insert(t, e.job("touch started; sleep 60"), e.job("sleep 0.3"))
	other, err := sqlite.Open(t.Context(), filepath.Join(e.dir, "db", "jobq.db"), sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r := e.runner(t, 2)
	r.Lease = time.Hour
	// When the short job's outcome is recorded, jobq cancel (another
	// connection) cancels the long one first, in the claim's way.
	r.Store = &cancelBeforeClaim{Store: e.store, cancel: func() {
		if _, err := other.JobCancel(t.Context(), queue.JobCancelParams{IDs: ids[:1], Now: time.Now()}); err != nil {
			t.Error(err)
		}
	}}

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := r.Work(ctx)
		done <- err
	}()
	for deadline := time.Now().Add(drainLimit); ; time.Sleep(20 * time.Millisecond) {
		if j := e.get(t, ids[0]); j.State.Final() {
			if j.State != queue.StateCancelled {
				t.Errorf("job ended %s, want cancelled", j.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s %v after it was cancelled", e.get(t, ids[0]).State, drainLimit)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Work: %v", err)
	}
}

// cancelBeforeClaim is a real store that calls cancel once, just before
// the first claim that records an outcome.
type cancelBeforeClaim struct {
	*sqlite.Store
	cancel func()
}

func (s *cancelBeforeClaim) JobClaim(ctx context.Context, p queue.JobClaimParams) (*queue.JobClaimResult, error) {
	if len(p.Finish) > 0 && s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	return s.Store.JobClaim(ctx, p)
}
