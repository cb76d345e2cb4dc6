package sqlite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestConcurrentClaims: workers in two processes (two stores on one file)
// claiming at once never get the same job, and together get every job.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	first, path := setup(t)
	second, err := Open(t.Context(), path, Options{BusyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	const n = 300
	params := make([]queue.JobInsertParams, n)
	for i := range params {
		params[i] = testJob("default")
	}
	if _, err := first.JobInsert(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	claimed := make(chan int64, n)
	errs := make(chan error, 4)
	for w, s := range []*Store{first, second, first, second} {
		go func() {
			worker := fmt.Sprintf("w%d", w)
			var finish []queue.JobFinishParams
			for {
				res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
					Finish: finish, Limit: 3, Now: t0, Worker: worker, LeaseUntil: t0.Add(time.Minute),
				})
				if err != nil {
					errs <- err
					return
				}
				if len(res.Lost) > 0 {
					errs <- fmt.Errorf("%s lost %v", worker, res.Lost)
					return
				}
				finish = nil
				for _, j := range res.Jobs {
					claimed <- j.ID
					finish = append(finish, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts, FinishedAt: t0})
				}
				if len(res.Jobs) == 0 {
					errs <- nil
					return
				}
			}
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(claimed)
	seen := map[int64]bool{}
	for id := range claimed {
		if seen[id] {
			t.Errorf("job %d claimed twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d jobs claimed, want %d", len(seen), n)
	}
	done, err := first.JobList(t.Context(), queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Now: t0})
	if err != nil || len(done) != n {
		t.Errorf("%d jobs succeeded, %v; want %d", len(done), err, n)
	}
}

// claimOne claims the next job of queues (all when none) at now, for
// worker w1 with a 30s lease, and fails the test unless there is one.
func claimOne(t *testing.T, s *Store, now time.Time, queues ...string) *queue.Job {
	t.Helper()
	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Queues: queues, Limit: 1, Now: now, Worker: "w1", LeaseUntil: now.Add(30 * time.Second)})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(res.Jobs))
	}
	return res.Jobs[0]
}

// finishOne records an outcome and fails the test unless it was taken.
func finishOne(t *testing.T, s *Store, p queue.JobFinishParams) {
	t.Helper()
	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Now: p.FinishedAt, Finish: []queue.JobFinishParams{p}})
	if err != nil || len(res.Lost) != 0 {
		t.Fatalf("finish: %v, lost %v", err, res.Lost)
	}
}

// TestWaitedOnPlan: the check for dependents that a batch of outcomes
// makes (waitedOn) searches job_deps_depends_on once per ID, never reads
// every row of job_deps; on a new database and once statistics exist.
func TestWaitedOnPlan(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		plan := explain(t, s, waitedOnJobs, "[1,2,3]")
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "SEARCH job_deps USING COVERING INDEX job_deps_depends_on (depends_on=?)") {
			t.Errorf("waitedOn does not search job_deps by depends_on:\n%s", text)
		}
		if strings.Contains(text, "SCAN job_deps") {
			t.Errorf("waitedOn reads all of job_deps:\n%s", text)
		}
	}
	t.Run("new database", check)
	ids, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("a"), testJob("a")})
	if err != nil {
		t.Fatal(err)
	}
	var params []queue.JobInsertParams
	for i := range 2000 {
		p := testJob("b")
		p.After = ids[i%2:][:1]
		params = append(params, p)
	}
	if _, err := s.JobInsert(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	t.Run("many waiting jobs", check)
	checkAnalyzed(t, s, check)
}
