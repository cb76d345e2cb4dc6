package queuetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// NotifyingStore is a store that is also its own queue.Notifier, as a
// worker uses it.
type NotifyingStore interface {
	queue.Store
	queue.Notifier
}

// RunNotifier runs the suite of queue.Notifier: a store waiting notices a
// commit of another store on the same database (another process, another
// host) at once, is not woken by its own writes, nor by a change a claim
// of its own already saw, and otherwise sleeps its whole d; its first
// Wait returns at once (it has seen nothing before); a done context ends
// a Wait with ctx.Err(). open must return two stores on one new, empty
// database, the first to wait; it closes them itself (t.Cleanup).
func RunNotifier(t *testing.T, open func(t *testing.T) (waiter NotifyingStore, other queue.Store)) {
	// primed opens the two stores and returns once the waiter's first
	// Wait, which returns at once by design, is behind it.
	primed := func(t *testing.T) (NotifyingStore, queue.Store) {
		t.Helper()
		waiter, other := open(t)
		if took, err := timedWait(t.Context(), t, waiter, time.Minute); err != nil || took > 20*time.Second {
			t.Fatalf("first Wait = %v after %v, want it to return at once", err, took)
		}
		return waiter, other
	}

	t.Run("another store inserts", func(t *testing.T) {
		t.Parallel()
		waiter, other := primed(t)
		inserted := make(chan error, 1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			_, err := other.JobInsert(context.Background(), queue.Jobs(newJob("default")))
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
		if jobs, err := waiter.JobList(t.Context(), queue.JobFilter{Now: t0}); err != nil || len(jobs) != 1 {
			t.Errorf("after Wait: %d jobs, %v; want the one inserted", len(jobs), err)
		}
	})

	t.Run("nothing changes", func(t *testing.T) {
		t.Parallel()
		waiter, other := primed(t)
		// Reading is no change, and its own writes are no news to it.
		if _, err := other.JobList(t.Context(), queue.JobFilter{Now: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := waiter.JobInsert(t.Context(), queue.Jobs(newJob("default"))); err != nil {
			t.Fatal(err)
		}
		const d = 500 * time.Millisecond
		took, err := timedWait(t.Context(), t, waiter, d)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if took < d-100*time.Millisecond {
			t.Errorf("Wait(%v) with nothing changed by others returned after %v", d, took)
		}
	})

	t.Run("a claim sees what was heard", func(t *testing.T) {
		t.Parallel()
		waiter, other := primed(t)
		if _, err := other.JobInsert(t.Context(), queue.Jobs(newJob("default"))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // a notification arrives
		res, err := waiter.JobClaim(t.Context(), queue.JobClaimParams{Limit: 1, Now: t0, Worker: worker, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("claim after the insert: %v, %v; want the job inserted", res, err)
		}
		const d = 500 * time.Millisecond
		if took, err := timedWait(t.Context(), t, waiter, d); err != nil || took < d-100*time.Millisecond {
			t.Errorf("Wait after a claim that saw the insert = %v after %v; want it to sleep %v", err, took, d)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		waiter, _ := primed(t)
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

// timedWait calls n.Wait and says how long it took; it fails the test
// rather than hang when Wait does not return well after d.
func timedWait(ctx context.Context, t *testing.T, n queue.Notifier, d time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- n.Wait(ctx, d) }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(d + 30*time.Second):
		t.Fatalf("Wait(%v) has not returned after %v", d, time.Since(start))
		return 0, nil
	}
}
