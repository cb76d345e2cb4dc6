package queuetest

import (
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// ClaimFinishAll works s's ready jobs as a worker whose jobs take no
// time: each claim takes up to limit jobs and records the previous claim's
// jobs as succeeded, until a claim finds none. now gives each claim's
// time. It returns the number of claims and of outcomes recorded (lost
// ones not counted); benchmarks of the stores and of River use it.
func ClaimFinishAll(tb testing.TB, s queue.Store, limit int, now func() time.Time) (claims, done int) {
	tb.Helper()
	zero := 0
	var finish []queue.JobFinishParams
	for {
		at := now()
		res, err := s.JobClaim(tb.Context(), queue.JobClaimParams{
			Finish: finish, Limit: limit, Worker: "bench", Now: at, LeaseUntil: at.Add(time.Minute),
		})
		if err != nil {
			tb.Fatal(err)
		}
		claims++
		done += len(finish) - len(res.Lost)
		finish = finish[:0]
		for _, job := range res.Jobs {
			finish = append(finish, queue.JobFinishParams{
				ID: job.ID, Run: job.Run, State: queue.StateSucceeded, Attempts: job.Attempts,
				FinishedAt: at, ExitCode: &zero, Output: []byte{},
			})
		}
		if len(finish) == 0 {
			return claims, done
		}
	}
}
