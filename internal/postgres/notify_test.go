package postgres

import (
	"sort"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
)

// TestWait: the Notifier suite, on two stores on one database, as two
// hosts would have.
func TestWait(t *testing.T) {
	t.Parallel()
	queuetest.RunNotifier(t, func(t *testing.T) (queuetest.NotifyingStore, queue.Store) {
		waiter, url := setup(t)
		return waiter, open(t, url)
	})
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
		if _, err := other.JobInsert(b.Context(), queue.Jobs(testJob("default"))); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		lat = append(lat, (<-woke).Sub(committed))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
}
