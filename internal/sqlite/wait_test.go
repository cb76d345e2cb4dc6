package sqlite

import (
	"context"
	"errors"
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
		if jobs, err := waiter.JobList(t.Context(), queue.JobFilter{Now: t0}); err != nil || len(jobs) != 1 {
			t.Errorf("after Wait: %d jobs, %v; want the one inserted", len(jobs), err)
		}
	})

	t.Run("nothing changes", func(t *testing.T) {
		t.Parallel()
		waiter, other := open(t)
		// Reading is no change.
		if _, err := other.JobList(t.Context(), queue.JobFilter{Now: t0}); err != nil {
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
