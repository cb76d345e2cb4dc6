package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

func TestScratchSplit(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "jobq.db"), Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 20000
	jobs := make([]queue.JobInsertParams, n)
	for i := range jobs {
		jobs[i] = testJob("default")
	}
	cpu := cpuTime()
	if _, err := s.JobInsert(t.Context(), jobs); err != nil {
		t.Fatal(err)
	}
	t.Logf("insert %.2f µs/job", float64((cpuTime()-cpu).Microseconds())/n)
	now := t0.Add(time.Second)
	zero := 0
	var all [][]queue.JobFinishParams
	cpu = cpuTime()
	for range n / 100 {
		res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Limit: 100, Worker: "bench", Now: now, LeaseUntil: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var finish []queue.JobFinishParams
		for _, job := range res.Jobs {
			finish = append(finish, queue.JobFinishParams{ID: job.ID, Run: job.Run, State: queue.StateSucceeded, Attempts: job.Attempts, FinishedAt: now, ExitCode: &zero, Output: []byte{}})
		}
		all = append(all, finish)
	}
	t.Logf("claim %.2f µs/job", float64((cpuTime()-cpu).Microseconds())/n)
	cpu = cpuTime()
	for _, f := range all {
		if _, err := s.JobClaim(t.Context(), queue.JobClaimParams{Finish: f, Worker: "bench", Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("finish %.2f µs/job", float64((cpuTime()-cpu).Microseconds())/n)
}
