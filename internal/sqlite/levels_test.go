package sqlite

import (
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite/vmsteps"
)

// Priority is any integer, so a queue may hold jobs on thousands of
// priority levels. The reads below must not walk them: each is measured
// in SQLite VM steps with one ready job on each of 100 and then 10,000
// levels, and may cost at most 5% more with the second.

// levelJobs are n pending jobs of queue q, one on each of n priority
// levels, the higher the priority the older.
func levelJobs(q string, n int) []queue.JobInsertParams {
	jobs := make([]queue.JobInsertParams, 0, n)
	for j := range n {
		p := testJob(q)
		p.Priority, p.RunAt = j, t0.Add(-time.Duration(j)*time.Millisecond)
		jobs = append(jobs, p)
	}
	return jobs
}

// stepsByLevels makes a store of jobs(n) for n = 100 and 10,000 levels,
// runs prepare on it, then read five times with the step counter that
// count installs, and fails when the second costs more than 5% more.
func stepsByLevels(t *testing.T, what string, jobs func(n int) []queue.JobInsertParams,
	prepare func(*Store), count func(*Store) *vmsteps.Counter, read func(*Store)) {
	t.Helper()
	steps := make([]int64, 2)
	for i, n := range []int{100, 10_000} {
		s, _ := setup(t)
		if _, err := s.JobInsert(t.Context(), queue.Jobs(jobs(n)...)); err != nil {
			t.Fatal(err)
		}
		prepare(s)
		read(s) // statements prepared before counting
		counter := count(s)
		for range 5 {
			read(s)
		}
		steps[i] = counter.Steps() / 5
		counter.Uninstall()
	}
	t.Logf("%s: %d VM steps with 100 levels, %d with 10,000", what, steps[0], steps[1])
	if steps[1] > steps[0]+steps[0]/20 {
		t.Errorf("%s: %d VM steps with 10,000 priority levels against %d with 100: it walks the levels", what, steps[1], steps[0])
	}
}

// claimLevels claims with params and checks how many jobs it got and the next
// run time it gave.
func claimLevels(t *testing.T, s *Store, params queue.JobClaimParams, want int, next time.Time) {
	t.Helper()
	params.Worker, params.Now, params.LeaseUntil = "w", t0, t0.Add(time.Minute)
	res, err := s.JobClaim(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != want || !res.NextRunAt.Equal(next) {
		t.Fatalf("claimed %d jobs, next run %v; want %d, %v", len(res.Jobs), res.NextRunAt, want, next)
	}
}

func writerSteps(t *testing.T) func(*Store) *vmsteps.Counter {
	return func(s *Store) *vmsteps.Counter { return countSteps(t, s) }
}

func TestClaimCostByLevelsPausedQueue(t *testing.T) {
	t.Parallel()
	paused := true
	stepsByLevels(t, "claim beside a paused queue", func(n int) []queue.JobInsertParams { return levelJobs("p", n) },
		func(s *Store) {
			if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "p", Paused: &paused}); err != nil {
				t.Fatal(err)
			}
		},
		writerSteps(t),
		func(s *Store) { claimLevels(t, s, queue.JobClaimParams{Limit: 1}, 0, time.Time{}) })
}

func TestClaimCostByLevelsRateLimited(t *testing.T) {
	t.Parallel()
	rate, period := 1, time.Hour
	stepsByLevels(t, "claim from a queue whose rate is used up", func(n int) []queue.JobInsertParams { return levelJobs("r", n) },
		func(s *Store) {
			if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "r", Rate: &rate, RatePeriod: &period}); err != nil {
				t.Fatal(err)
			}
			claimForTest(t, s, 1, "r") // uses up the rate
		},
		writerSteps(t),
		func(s *Store) { claimLevels(t, s, queue.JobClaimParams{Limit: 1}, 0, t0.Add(time.Hour)) })
}

func TestClaimCostByLevelsLastAttemptAhead(t *testing.T) {
	t.Parallel()
	lastAttempts := func(n int) []queue.JobInsertParams {
		jobs := levelJobs("a", n)
		for j := range jobs {
			jobs[j].MaxAttempts = 1
		}
		return jobs
	}
	stepsByLevels(t, "claim ahead cut at a last attempt", lastAttempts,
		func(*Store) {},
		writerSteps(t),
		// The second job is a last attempt that would wait for a slot.
		func(s *Store) { claimLevels(t, s, queue.JobClaimParams{Limit: 2, Ahead: 1}, 1, time.Time{}) })
}

func TestStatsCostByLevels(t *testing.T) {
	t.Parallel()
	stepsByLevels(t, "jobq stats", func(n int) []queue.JobInsertParams { return levelJobs("a", n) },
		func(s *Store) {
			// One reader connection, so the counter sees every read.
			s.reader.SetMaxOpenConns(1)
			s.reader.SetMaxIdleConns(1)
		},
		func(s *Store) *vmsteps.Counter { return countPoolSteps(t, s.reader) },
		func(s *Store) {
			st, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].OldestReady.IsZero() {
				t.Fatalf("stats %+v, want one queue with an oldest ready job", st)
			}
		})
}
