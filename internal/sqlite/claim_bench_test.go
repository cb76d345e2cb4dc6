package sqlite

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
)

// BenchmarkClaimFinish claims and finishes b.N no-op jobs through
// JobClaim as a runner of w slots does: each call records the outcomes of
// the jobs claimed by the one before and claims as many again, in one
// durable commit. w=1 is one job per commit; at w=100 a commit's cost is
// shared and the work per job shows. Besides jobs/s it reports this
// process's CPU per job (user+sys), steadier than wall time on a shared
// machine. Run it with a fixed count (-benchtime 20000x) to compare
// builds; bench/river runs the same loop beside River.
func BenchmarkClaimFinish(b *testing.B) {
	for _, w := range []int{1, 100} {
		b.Run(fmt.Sprintf("w=%d", w), func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "jobq.db"), Options{BusyTimeout: 5 * time.Second})
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
			cpu := cpuTime()
			b.ResetTimer()
			_, done := queuetest.ClaimFinishAll(b, s, w, func() time.Time { return t0.Add(time.Second) })
			b.StopTimer()
			if done != b.N {
				b.Fatalf("finished %d of %d jobs", done, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/job")
		})
	}
}

// cpuTime is the user and system CPU this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
