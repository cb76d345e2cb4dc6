package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

// BenchmarkClaimFinish claims and finishes b.N no-op jobs one at a time
// through JobClaim, as workers of one slot do (the sqlite store's
// benchmark of the same name), with 1 and 2 workers on one store. The
// test server runs with fsync off: the figures are what the store's SQL
// and its write lock cost, not a disk's; a real server adds a WAL flush
// per commit.
func BenchmarkClaimFinish(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			url := pgtest.NewDatabase(b)
			s, err := Open(b.Context(), url, Options{BusyTimeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			jobs := make([]queue.JobInsertParams, b.N)
			for i := range jobs {
				jobs[i] = testJob("default")
			}
			if _, err := s.JobInsert(b.Context(), jobs); err != nil {
				b.Fatal(err)
			}
			zero := 0
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					var finish []queue.JobFinishParams
					for {
						now := t0.Add(time.Second)
						res, err := s.JobClaim(b.Context(), queue.JobClaimParams{
							Finish: finish, Limit: 1, Worker: fmt.Sprintf("bench-%d", w), Now: now,
							LeaseUntil: now.Add(time.Minute),
						})
						if err != nil {
							b.Error(err)
							return
						}
						if len(res.Jobs) == 0 {
							return
						}
						finish = finish[:0]
						for _, job := range res.Jobs {
							finish = append(finish, queue.JobFinishParams{
								ID: job.ID, Run: job.Run, State: queue.StateSucceeded, Attempts: job.Attempts,
								FinishedAt: now, ExitCode: &zero, Output: []byte{}, OutputSize: 0,
							})
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkClaimFinishLockstep is bench/river's jobq side on PostgreSQL,
// without River: one loop whose JobClaim records the outcomes of the w
// jobs the previous claim took and claims w more in one transaction (what
// a runner of w slots does). It reports jobs/s, this store's round trips
// to the server per claim (a statement, a batch, BEGIN and COMMIT each
// count one) and per job.
func BenchmarkClaimFinishLockstep(b *testing.B) {
	for _, w := range []int{2, 100} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			var trips roundTrips
			s, err := Open(b.Context(), pgtest.NewDatabase(b), Options{BusyTimeout: 5 * time.Second, tracer: &trips})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			n := b.N * w
			jobs := make([]queue.JobInsertParams, n)
			for i := range jobs {
				jobs[i] = testJob("default")
			}
			if _, err := s.JobInsert(b.Context(), jobs); err != nil {
				b.Fatal(err)
			}
			zero, claims := 0, 0
			var finish []queue.JobFinishParams
			b.ResetTimer()
			trips.n.Store(0)
			for {
				now := t0.Add(time.Second)
				res, err := s.JobClaim(b.Context(), queue.JobClaimParams{
					Finish: finish, Limit: w, Worker: "bench", Now: now, LeaseUntil: now.Add(time.Minute),
				})
				if err != nil {
					b.Fatal(err)
				}
				claims++
				finish = finish[:0]
				for _, job := range res.Jobs {
					finish = append(finish, queue.JobFinishParams{
						ID: job.ID, Run: job.Run, State: queue.StateSucceeded, Attempts: job.Attempts,
						FinishedAt: now, ExitCode: &zero, Output: []byte{},
					})
				}
				if len(finish) == 0 {
					break
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(float64(trips.n.Load())/float64(claims), "trips/claim")
			b.ReportMetric(float64(trips.n.Load())/float64(n), "trips/job")
		})
	}
}
