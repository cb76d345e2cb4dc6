package postgres

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

// TestWait: a store waiting notices a commit of another store (another
// host) at once, is not woken by its own writes, and otherwise sleeps its
// whole d.
func TestWait(t *testing.T) {
	t.Parallel()
	// open returns two stores on one database, the first primed: its
	// first Wait returns at once by design, having heard nothing before.
	open2 := func(t *testing.T) (waiter, other *Store) {
		t.Helper()
		waiter, url := setup(t)
		other = open(t, url)
		if _, err := timedWait(t.Context(), t, waiter, time.Minute); err != nil {
			t.Fatalf("first Wait: %v", err)
		}
		return waiter, other
	}

	t.Run("another store inserts", func(t *testing.T) {
		t.Parallel()
		waiter, other := open2(t)
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
		if jobs, err := waiter.JobList(t.Context(), queue.JobFilter{Now: t0}); err != nil || len(jobs) != 1 {
			t.Errorf("after Wait: %d jobs, %v; want the one inserted", len(jobs), err)
		}
	})

	t.Run("nothing changes", func(t *testing.T) {
		t.Parallel()
		waiter, other := open2(t)
		if _, err := other.JobList(t.Context(), queue.JobFilter{Now: t0}); err != nil {
			t.Fatal(err)
		}
		// Its own writes are no news to it.
		if _, err := waiter.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")}); err != nil {
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
		waiter, other := open2(t)
		if _, err := other.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the notification arrives
		if _, err := waiter.JobClaim(t.Context(), queue.JobClaimParams{Limit: 1, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		const d = 500 * time.Millisecond
		if took, err := timedWait(t.Context(), t, waiter, d); err != nil || took < d-100*time.Millisecond {
			t.Errorf("Wait after a claim that saw the insert = %v after %v; want it to sleep %v", err, took, d)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		waiter, _ := open2(t)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(137*time.Millisecond, cancel)
		took, err := timedWait(ctx, t, waiter, time.Minute)
		if took > 20*time.Second {
			t.Errorf("Wait returned %v after the context was cancelled", took)
		}
		if !errors.Is(err, context.Canceled) || err != ctx.Err() {
			t.Errorf("Wait = %v, want ctx.Err() (%v)", err, ctx.Err())
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

// BenchmarkPickup measures how long an idle worker's Wait takes to
// return after another store (another host) commits a new job: the
// issue's pick-up latency, whose median it reports (Wait's d is a minute:
// no polling).
func BenchmarkPickup(b *testing.B) {
	url := pgtest.NewDatabase(b)
	waiter, err := Open(b.Context(), url, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer waiter.Close()
	other, err := Open(b.Context(), url, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	_ = waiter.Wait(b.Context(), time.Minute) // the first returns at once
	var lat []time.Duration
	for b.Loop() {
		woke := make(chan time.Time, 1)
		go func() { _ = waiter.Wait(b.Context(), time.Minute); woke <- time.Now() }()
		time.Sleep(5 * time.Millisecond) // the waiter is waiting
		if _, err := other.JobInsert(b.Context(), []queue.JobInsertParams{testJob("default")}); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		lat = append(lat, (<-woke).Sub(committed))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
}
