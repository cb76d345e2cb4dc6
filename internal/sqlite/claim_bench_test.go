package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// BenchmarkClaimFinish claims and finishes b.N no-op jobs one at a time
// through JobClaim, as a worker of one slot does: each call records the
// previous job's outcome and claims the next, in one durable commit.
// Run it with a fixed count (-benchtime 5000x) to compare builds.
func BenchmarkClaimFinish(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "jobq.db"), Options{BusyTimeout: 5 * time.Second})
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
	expired := func(job *queue.Job) queue.JobFinishParams {
		return queue.JobFinishParams{ID: job.ID, Run: job.Run, State: queue.StatePending, Attempts: job.Attempts - 1, FinishedAt: t0}
	}
	zero := 0
	var finish []queue.JobFinishParams
	b.ResetTimer()
	for range b.N + 1 {
		now := t0.Add(time.Second)
		res, err := s.JobClaim(b.Context(), queue.JobClaimParams{
			Finish: finish, Limit: 1, Worker: "bench", Now: now,
			LeaseUntil: now.Add(time.Minute), Expired: expired,
		})
		if err != nil {
			b.Fatal(err)
		}
		finish = finish[:0]
		for _, job := range res.Jobs {
			finish = append(finish, queue.JobFinishParams{
				ID: job.ID, Run: job.Run, State: queue.StateSucceeded, Attempts: job.Attempts,
				FinishedAt: now, ExitCode: &zero, Output: []byte{}, OutputSize: 0,
			})
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
