package sqlite

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// testSchedule is a schedule every minute whose next tick is t0.
func testSchedule(name string) queue.Schedule {
	j := testJob("default")
	j.State, j.RunAt, j.CreatedAt = "", time.Time{}, time.Time{}
	return queue.Schedule{Name: name, Expr: "* * * * *", Zone: "UTC", Overlap: queue.OverlapAllow,
		Job: j, NextAt: t0, DueAt: t0}
}

func scheduleJobCount(t *testing.T, s *Store, id int64) int {
	t.Helper()
	jobs, err := s.JobList(t.Context(), queue.JobFilter{ScheduleID: id, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	return len(jobs)
}

// TestScheduleFireStaleRow: a firing that read the schedule before
// another moved its next tick enqueues nothing. The compare-and-set on
// next_at decides it: BEGIN IMMEDIATE makes every firing through Store
// re-read the row under the write lock, so only a stale row, as
// PostgreSQL or a change of the read could give, shows the check works.
func TestScheduleFireStaleRow(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ids, err := s.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: testSchedule("a"), Now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := s.ScheduleGet(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	params := queue.ScheduleFireParams{Now: now, Jitter: func() float64 { return 0 }}
	if res, err := s.ScheduleFire(t.Context(), params); err != nil || len(res.Fired) != 1 {
		t.Fatalf("first fire = %+v, %v; want one job", res, err)
	}
	tx, err := s.writer.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	fired, ok, err := s.fireSchedule(t.Context(), tx, stale, params)
	if err != nil || ok || fired.JobID != 0 {
		t.Fatalf("fire of the stale row = %+v, %v, %v; want nothing", fired, ok, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := scheduleJobCount(t, s, ids[0]); n != 1 {
		t.Errorf("%d jobs for one tick, want 1", n)
	}
}

// TestScheduleFireTwoStores: two Stores on one file, as two processes (a
// worker and a drain) have, each with its own writer connection, fire the
// same tick at once: one job.
func TestScheduleFireTwoStores(t *testing.T) {
	t.Parallel()
	a, path := setup(t)
	b, err := Open(t.Context(), path, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ids, err := a.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: testSchedule("a"), Now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := 0
	for i := range 8 {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			res, err := s.ScheduleFire(t.Context(), queue.ScheduleFireParams{Now: now, Jitter: func() float64 { return 0.5 }})
			if err != nil {
				if !errors.Is(err, queue.ErrBusy) {
					t.Errorf("ScheduleFire: %v", err)
				}
				return
			}
			mu.Lock()
			fired += len(res.Fired)
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := scheduleJobCount(t, a, ids[0]); n != 1 || fired != 1 {
		t.Errorf("8 firings from two stores: %d jobs, %d reported fired; want 1 and 1", n, fired)
	}
}
