package postgres

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
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
			if _, err := s.JobInsert(b.Context(), queue.Jobs(jobs...)); err != nil {
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
// count one) and per job, and the CPU a job costs this process and the
// server's backends of the benchmark's database (user+sys): figures that
// a machine shared with other work disturbs less than the rate.
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
			if _, err := s.JobInsert(b.Context(), queue.Jobs(jobs...)); err != nil {
				b.Fatal(err)
			}
			server0 := backendCPU(b, s)
			b.ResetTimer()
			trips.n.Store(0)
			cpu0 := processCPU()
			claims, done := queuetest.ClaimFinishAll(b, s, w, func() time.Time { return t0.Add(time.Second) })
			b.StopTimer()
			if done != n {
				b.Fatalf("finished %d of %d jobs", done, n)
			}
			cpu := processCPU() - cpu0
			server := backendCPU(b, s) - server0
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), "client-cpu-µs/job")
			b.ReportMetric(float64(server.Microseconds())/float64(n), "server-cpu-µs/job")
			b.ReportMetric(float64(trips.n.Load())/float64(claims), "trips/claim")
			b.ReportMetric(float64(trips.n.Load())/float64(n), "trips/job")
		})
	}
}

// processCPU is the user and system CPU this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the user and system CPU the server's backends connected
// to s's database have used so far, from /proc (the server runs on this
// machine: pgtest). A backend that ended before is not counted.
func backendCPU(b *testing.B, s *Store) time.Duration {
	b.Helper()
	rows, err := s.pool.Query(b.Context(), "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Skipf("server's CPU: %v (not on this machine?)", err)
		}
		// Fields after the command's closing parenthesis: state is the
		// 3rd field of stat, utime the 14th and stime the 15th.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		for _, i := range []int{11, 12} {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
