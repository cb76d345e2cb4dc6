package sqlite

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite/vmsteps"
)

// TestClaimVisitsOneQueue: what a claim costs does not grow with the
// ready jobs of queues it does not claim from (issue 10: with a million
// jobs in queue bulk, a claim from another queue read them all). It
// counts the instructions SQLite runs per claim (vmsteps), a figure no
// machine's speed changes, with 100 and then 20,000 ready jobs in bulk,
// ahead of the small queue's jobs in the claim order, and wants the same
// count within a few percent: a claim that read bulk's jobs one by one
// would cost about 200 times more. Each claim records the previous job's
// outcome. TestNextRunVisitsOneQueue counts the search for the next run
// time, which a claim that finds fewer jobs than it asks for makes.
func TestClaimVisitsOneQueue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		queues []string // claimed from; none: all
		// bulk is set up so (paused, limited) before the claims.
		bulk func(t *testing.T, s *Store)
	}{
		{name: "from another queue", queues: []string{"other"}},
		{name: "from another queue and an empty one", queues: []string{"other", "empty"}},
		{name: "from all queues, bulk paused", bulk: func(t *testing.T, s *Store) {
			paused := true
			if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "bulk", Paused: &paused}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "from all queues, bulk at its concurrency", bulk: func(t *testing.T, s *Store) {
			one := 1
			if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "bulk", Concurrency: &one}); err != nil {
				t.Fatal(err)
			}
			claimForTest(t, s, 1, "bulk") // runs until the test ends
		}},
		{name: "from all queues, bulk at its rate", bulk: func(t *testing.T, s *Store) {
			one, hour := 1, time.Hour
			if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "bulk", Rate: &one, RatePeriod: &hour}); err != nil {
				t.Fatal(err)
			}
			claimForTest(t, s, 1, "bulk")
		}},
		// The claim from the big queue itself reads its head, past the
		// jobs waiting for later at a higher priority.
		{name: "from the big queue", queues: []string{"bulk"}},
		{name: "from the big queue, its later jobs first in priority", queues: []string{"bulk"}, bulk: func(t *testing.T, s *Store) {
			if _, err := s.writer.Exec("UPDATE jobs SET priority = 9 WHERE state = 'scheduled'"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			small := claimSteps(t, 100, tt.queues, tt.bulk)
			big := claimSteps(t, 20_000, tt.queues, tt.bulk)
			t.Logf("instructions per claim: %d with 100 jobs in bulk, %d with 20,000", small, big)
			if big > small+small/20 {
				t.Errorf("a claim runs %d instructions with 20,000 ready jobs in bulk, %d with 100: it reads bulk's jobs", big, small)
			}
		})
	}
}

// claimSteps makes a store with n ready jobs in queue bulk (a tenth of
// them due in an hour), ahead in the claim order of ten jobs in queue
// other, sets bulk up with setUp (if not nil), then claims one job at a
// time from queues, each claim recording the outcome of the last, and
// returns the instructions SQLite ran per claim.
func claimSteps(t *testing.T, n int, queues []string, setUp func(*testing.T, *Store)) int64 {
	t.Helper()
	s, _ := setup(t)
	var jobs []queue.JobInsertParams
	for i := range n {
		p := testJob("bulk")
		p.Priority = 1 + i%3
		if i%10 == 0 {
			p.State, p.RunAt = queue.StateScheduled, t0.Add(time.Hour)
		}
		jobs = append(jobs, p)
	}
	for range 10 {
		jobs = append(jobs, testJob("other"))
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(jobs...)); err != nil {
		t.Fatal(err)
	}
	if setUp != nil {
		setUp(t, s)
	}
	// A first claim, not counted, prepares the statements kept.
	var finish []queue.JobFinishParams
	claim := func() {
		t.Helper()
		res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
			Queues: queues, Finish: finish, Limit: 1, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 1 {
			t.Fatalf("claimed %d jobs, want 1", len(res.Jobs))
		}
		zero := 0
		job := res.Jobs[0]
		finish = []queue.JobFinishParams{{ID: job.ID, Run: job.Run, State: queue.StateSucceeded,
			Attempts: job.Attempts, FinishedAt: t0, ExitCode: &zero, Output: []byte{}}}
	}
	claim()
	counter := countSteps(t, s)
	defer counter.Uninstall()
	const claims = 5
	for range claims {
		claim()
	}
	return counter.Steps() / claims
}

// TestNextRunVisitsOneQueue: when a claim finds no job whose time has
// come, the search for the next run time costs the same with 100 and with
// 20,000 jobs waiting for later in queue bulk: one seek per queue and
// state, not a read of every waiting job.
func TestNextRunVisitsOneQueue(t *testing.T) {
	t.Parallel()
	for _, queues := range [][]string{nil, {"bulk", "other"}} {
		steps := make([]int64, 2)
		for i, n := range []int{100, 20_000} {
			s, _ := setup(t)
			var jobs []queue.JobInsertParams
			for j := range n {
				p := testJob("bulk")
				p.State, p.RunAt = queue.StateScheduled, t0.Add(time.Hour+time.Duration(j)*time.Second)
				jobs = append(jobs, p)
			}
			later := testJob("other")
			later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Minute)
			if _, err := s.JobInsert(t.Context(), queue.Jobs(append(jobs, later)...)); err != nil {
				t.Fatal(err)
			}
			claim := func() {
				t.Helper()
				res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
					Queues: queues, Limit: 1, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute),
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Jobs) != 0 || !res.NextRunAt.Equal(later.RunAt) {
					t.Fatalf("claimed %d jobs, next run at %v; want none, next run at %v", len(res.Jobs), res.NextRunAt, later.RunAt)
				}
			}
			claim() // prepares the statements kept
			counter := countSteps(t, s)
			const claims = 5
			for range claims {
				claim()
			}
			steps[i] = counter.Steps() / claims
			counter.Uninstall()
		}
		t.Logf("queues %v: instructions per claim: %d with 100 jobs waiting in bulk, %d with 20,000", queues, steps[0], steps[1])
		if steps[1] > steps[0]+steps[0]/20 {
			t.Errorf("queues %v: a claim that finds nothing runs %d instructions with 20,000 jobs waiting in bulk, %d with 100: it reads them",
				queues, steps[1], steps[0])
		}
	}
}

// claimForTest claims limit jobs of queues, which stay running.
func claimForTest(t *testing.T, s *Store, limit int, queues ...string) []*queue.Job {
	t.Helper()
	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
		Queues: queues, Limit: limit, Worker: "other worker", Now: t0, LeaseUntil: t0.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != limit {
		t.Fatalf("claimed %d jobs of %v, want %d", len(res.Jobs), queues, limit)
	}
	return res.Jobs
}

// countSteps counts the instructions SQLite runs on the store's writer
// connection, its only one.
func countSteps(t *testing.T, s *Store) *vmsteps.Counter {
	t.Helper()
	return countPoolSteps(t, s.writer)
}

// countPoolSteps counts the instructions SQLite runs on one connection of
// pool: the pool's only one, or the one it keeps idle.
func countPoolSteps(t *testing.T, pool *sql.DB) *vmsteps.Counter {
	t.Helper()
	conn, err := pool.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var counter *vmsteps.Counter
	if err := conn.Raw(func(dc any) error {
		counter, err = vmsteps.Install(dc)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return counter
}

// TestKeptStatementsStayCompiled: the statements a worker runs at every
// claim and finish are kept compiled (stmt.go), and binding their values
// must not make SQLite compile them again, as it does when the planner
// looked at a bound value (a LIMIT ?, or a "= ?" beside an ORDER BY); a
// statement compiled again at every claim cost a fifth of the claim's
// CPU. It claims and finishes jobs one at a time as a worker does, then
// claims from a queue of later jobs (the search for the next run time),
// and wants no statement compiled again.
func TestKeptStatementsStayCompiled(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	var jobs []queue.JobInsertParams
	for range 50 {
		jobs = append(jobs, testJob("default"))
	}
	for i := range 5 {
		p := testJob("later")
		p.State, p.RunAt = queue.StateScheduled, t0.Add(time.Duration(i+1)*time.Hour)
		jobs = append(jobs, p)
	}
	ids, err := s.JobInsert(t.Context(), queue.Jobs(jobs...))
	if err != nil {
		t.Fatal(err)
	}
	// A job waiting for the first: each finish looks for the jobs
	// waiting for the job that ended.
	after := testJob("default")
	after.State, after.After = queue.StateWaiting, ids[:1]
	if _, err := s.JobInsert(t.Context(), queue.Jobs(after)); err != nil {
		t.Fatal(err)
	}
	counter := countSteps(t, s)
	defer counter.Uninstall()
	var finish []queue.JobFinishParams
	for range 40 {
		res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
			Finish: finish, Limit: 1, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute),
			Expired: func(job *queue.Job) queue.JobFinishParams {
				return queue.JobFinishParams{ID: job.ID, Run: job.Run, State: queue.StatePending, FinishedAt: t0}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 1 {
			t.Fatalf("claimed %d jobs, want 1", len(res.Jobs))
		}
		zero := 0
		job := res.Jobs[0]
		finish = []queue.JobFinishParams{{ID: job.ID, Run: job.Run, State: queue.StateSucceeded,
			Attempts: job.Attempts, FinishedAt: t0, ExitCode: &zero, Output: []byte{}}}
	}
	for range 5 {
		res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
			Queues: []string{"later"}, Limit: 1, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Hour); !res.NextRunAt.Equal(want) {
			t.Fatalf("next run at %v, want %v", res.NextRunAt, want)
		}
	}
	for query, n := range counter.Reprepares() {
		if n > 0 {
			t.Errorf("compiled again %d times:\n%s", n, query)
		}
	}
}

// TestJobCountFromCounters: a count of jobs by queue and state alone
// (jobq list counts what it did not show) is read from job_counts and
// the heads of jobs_queue_ready, and agrees with a count of the jobs
// themselves, whatever the states and queues asked, pending as users see
// it (scheduled and retrying jobs whose time has come) included.
func TestJobCountFromCounters(t *testing.T) {
	t.Parallel()
	s := mixedStore(t)
	eachMixedFilter(func(f queue.JobFilter) {
		if !countedByQueueAndState(f) {
			t.Errorf("states %v, queues %v: not counted from job_counts", f.States, f.Queues)
		}
		got, err := s.JobCount(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		where, args := jobFilter(f)
		var want int
		if err := s.reader.QueryRow("SELECT count(*) FROM jobs WHERE "+where, args...).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("at %v, states %v, queues %v: JobCount = %d, want %d", f.Now.Sub(t0), f.States, f.Queues, got, want)
		}
	})
}

// TestListPendingNewestFirst: the newest jobs of a list that asks for
// pending jobs (a merge of ordered ranges, listJobs) are those of the
// plain condition sorted, whatever the other states and queues asked,
// and the limit.
func TestListPendingNewestFirst(t *testing.T) {
	t.Parallel()
	s := mixedStore(t)
	eachMixedFilter(func(f queue.JobFilter) {
		if !slices.Contains(f.States, queue.StatePending) {
			return
		}
		for _, limit := range []int{1, 7, 100} {
			f.Limit = limit
			jobs, err := s.JobList(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, j := range jobs {
				got = append(got, j.ID)
			}
			where, args := jobFilter(f)
			var want []int64
			err = eachRow(t.Context(), s.reader, "SELECT id FROM jobs WHERE "+where+" ORDER BY id DESC LIMIT ?", append(args, limit),
				func(rows *sql.Rows) error {
					var id int64
					err := rows.Scan(&id)
					want = append(want, id)
					return err
				})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("at %v, states %v, queues %v, limit %d: JobList = %v, want %v", f.Now.Sub(t0), f.States, f.Queues, limit, got, want)
			}
		}
	})
}

// mixedStore makes a store whose jobs, in three queues, are in every
// kind of state: pending, scheduled before and after t0, retrying until
// t0 + 30 minutes, running, succeeded and dead.
func mixedStore(t *testing.T) *Store {
	t.Helper()
	s, _ := setup(t)
	var jobs []queue.JobInsertParams
	for i := range 60 {
		p := testJob([]string{"a", "b", "c"}[i%3])
		switch i % 4 {
		case 0:
			p.State, p.RunAt = queue.StateScheduled, t0.Add(time.Hour)
		case 1:
			p.State, p.RunAt = queue.StateScheduled, t0.Add(-time.Minute)
		}
		jobs = append(jobs, p)
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(jobs...)); err != nil {
		t.Fatal(err)
	}
	// Outcomes recorded as a worker records them.
	var finish []queue.JobFinishParams
	for _, job := range claimForTest(t, s, 20) {
		if job.ID%5 == 0 {
			continue
		}
		st := []queue.State{queue.StateSucceeded, queue.StateDead, queue.StateRetrying}[job.ID%3]
		finish = append(finish, queue.JobFinishParams{ID: job.ID, Run: job.Run, State: st,
			Attempts: job.Attempts, RunAt: t0.Add(30 * time.Minute), FinishedAt: time.UnixMilli(1)})
	}
	if _, err := s.JobClaim(t.Context(), queue.JobClaimParams{Finish: finish, Worker: "other worker", Now: t0}); err != nil {
		t.Fatal(err)
	}
	return s
}

// eachMixedFilter calls f with filters of states and queues, at times
// before, between and after mixedStore's run times.
func eachMixedFilter(f func(queue.JobFilter)) {
	states := [][]queue.State{nil, {queue.StateSucceeded}, {queue.StateDead, queue.StateRunning}, {queue.StateRunning},
		{queue.StateCancelled}, {queue.StateScheduled}, {queue.StatePending}, {queue.StateRetrying},
		{queue.StateSucceeded, queue.StatePending}, {queue.StateScheduled, queue.StatePending, queue.StateRetrying}}
	queues := [][]string{nil, {"a"}, {"b", "c"}, {"none"}}
	for _, now := range []time.Time{t0, t0.Add(45 * time.Minute), t0.Add(2 * time.Hour)} {
		for _, st := range states {
			for _, qs := range queues {
				f(queue.JobFilter{States: st, Queues: qs, Now: now})
			}
		}
	}
}
