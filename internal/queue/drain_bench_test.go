package queue_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// countingStore counts a runner's JobClaim calls: one commit each.
type countingStore struct {
	*sqlite.Store
	claims atomic.Int64
}

func (s *countingStore) JobClaim(ctx context.Context, p queue.JobClaimParams) (*queue.JobClaimResult, error) {
	s.claims.Add(1)
	return s.Store.JobClaim(ctx, p)
}

// BenchmarkDrain drains b.N `true` jobs with a runner of 2 slots, as
// jobq drain -c 2 does, and reports this process's CPU per job (user+sys,
// the jobs' own processes excluded) and the commits of outcomes and
// claims per job: the worker's own cost, which does not depend on how
// fast the machine starts processes. "short" takes every job as short,
// as a machine where `true` runs in under 10 ms does (the runner then
// claims ahead: group commit); "as-is" leaves that to this machine.
func BenchmarkDrain(b *testing.B) {
	for _, bb := range []struct {
		name  string
		short time.Duration
	}{{"as-is", 0}, {"short", time.Hour}} {
		b.Run(bb.name, func(b *testing.B) {
			e := setup(b)
			var jobs []queue.JobInsertParams
			for range b.N {
				jobs = append(jobs, e.job("true"))
			}
			if _, err := e.store.JobInsert(b.Context(), queue.Jobs(jobs...)); err != nil {
				b.Fatal(err)
			}
			r := e.runner(b, 2)
			r.SetGroupCommit(bb.short, 0)
			store := &countingStore{Store: e.store}
			r.Store = store
			r.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
			cpu := queue.SelfCPU()
			b.ResetTimer()
			sum, err := r.Drain(b.Context())
			b.StopTimer()
			if err != nil || sum.Succeeded != b.N {
				b.Fatalf("drain: %v, %+v; want %d succeeded", err, sum, b.N)
			}
			b.ReportMetric(float64((queue.SelfCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/job")
			b.ReportMetric(float64(store.claims.Load())/float64(b.N), "commits/job")
		})
	}
}
