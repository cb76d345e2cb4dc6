// Package queuetest is the conformance suite every queue.Store must pass.
// It speaks only through the queue.Store interface and assumes nothing of
// the database behind it: a store for SQLite and one for PostgreSQL run
// the same tests.
//
// Use it from the store's own tests:
//
//	func TestStore(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Store { return openTestStore(t) })
//	}
package queuetest

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Run runs the suite. open must return a new, empty store each time it is
// called; Run closes it at the end of the test that opened it. Tests run
// in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) queue.Store) {
	var tests []suiteTest
	for _, area := range [][]suiteTest{
		insertTests, listTests, claimTests, handBackTests, leasesTests, queuesTests, cancelTests, depsTests, retryTests, deleteTests, progressTests, outputTests, statsTests, eventsTests,
		schedulesTests,
	} {
		tests = append(tests, area...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.test(t, s)
		})
	}
}

type suiteTest struct {
	name string
	test func(t *testing.T, s queue.Store)
}

// t0 is the suite's clock: every time it gives a store is at millisecond
// precision, which every store keeps.
var t0 = time.Date(2031, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

const worker = "host-a:100"

// newJob is a valid job in queue q, ready at t0.
func newJob(q string) queue.JobInsertParams {
	return queue.JobInsertParams{
		Queue:       q,
		State:       queue.StatePending,
		Command:     "true",
		Argv:        queue.ShellArgv("true"),
		Dir:         "/",
		RunAt:       t0,
		MaxAttempts: 3,
		Backoff:     10 * time.Second,
		MaxBackoff:  time.Hour,
		CreatedAt:   t0,
	}
}

func insert(t *testing.T, s queue.Store, params ...queue.JobInsertParams) []int64 {
	t.Helper()
	ids, err := s.JobInsert(t.Context(), queue.Jobs(params...))
	if err != nil {
		t.Fatalf("JobInsert: %v", err)
	}
	if len(ids) != len(params) {
		t.Fatalf("JobInsert of %d jobs returned %d IDs", len(params), len(ids))
	}
	return ids
}

func insertOne(t *testing.T, s queue.Store, p queue.JobInsertParams) int64 {
	t.Helper()
	return insert(t, s, p)[0]
}

func get(t *testing.T, s queue.Store, id int64) *queue.Job {
	t.Helper()
	job, err := s.JobGet(t.Context(), id)
	if err != nil {
		t.Fatalf("JobGet(%d): %v", id, err)
	}
	return job
}

func list(t *testing.T, s queue.Store, p queue.JobFilter) []int64 {
	t.Helper()
	jobs, err := s.JobList(t.Context(), p)
	if err != nil {
		t.Fatalf("JobList(%+v): %v", p, err)
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func attempts(t *testing.T, s queue.Store, id int64) []queue.Attempt {
	t.Helper()
	as, err := s.AttemptList(t.Context(), id)
	if err != nil {
		t.Fatalf("AttemptList(%d): %v", id, err)
	}
	return as
}

func claim(t *testing.T, s queue.Store, p queue.JobClaimParams) *queue.JobClaimResult {
	t.Helper()
	if p.Worker == "" {
		p.Worker = worker
	}
	if p.LeaseUntil.IsZero() {
		p.LeaseUntil = p.Now.Add(30 * time.Second)
	}
	res, err := s.JobClaim(t.Context(), p)
	if err != nil {
		t.Fatalf("JobClaim(%+v): %v", p, err)
	}
	return res
}

// claimIDs claims up to limit jobs of queues at now and returns their IDs.
func claimIDs(t *testing.T, s queue.Store, now time.Time, limit int, queues ...string) []int64 {
	t.Helper()
	res := claim(t, s, queue.JobClaimParams{Queues: queues, Limit: limit, Now: now})
	ids := make([]int64, len(res.Jobs))
	for i, j := range res.Jobs {
		ids[i] = j.ID
	}
	return ids
}

// claimOne claims the one ready job of queue q at now.
func claimOne(t *testing.T, s queue.Store, now time.Time, q string) *queue.Job {
	t.Helper()
	res := claim(t, s, queue.JobClaimParams{Queues: []string{q}, Limit: 1, Now: now})
	if len(res.Jobs) != 1 {
		t.Fatalf("claimed %d jobs of queue %s, want 1", len(res.Jobs), q)
	}
	return res.Jobs[0]
}

// finish records outcomes and fails the test if any was lost.
func finish(t *testing.T, s queue.Store, now time.Time, ps ...queue.JobFinishParams) {
	t.Helper()
	res := claim(t, s, queue.JobClaimParams{Finish: ps, Now: now})
	if len(res.Lost) > 0 || len(res.Jobs) > 0 {
		t.Fatalf("finish: lost %v, claimed %d jobs; want neither", res.Lost, len(res.Jobs))
	}
}

// succeed records the success of a job claimed in its own queue q.
func succeed(t *testing.T, s queue.Store, now time.Time, q string) *queue.Job {
	t.Helper()
	j := claimOne(t, s, now, q)
	finish(t, s, now, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts, FinishedAt: now, ExitCode: intp(0)})
	return j
}

// fail records the last, failed attempt of a job claimed in its own queue q.
func fail(t *testing.T, s queue.Store, now time.Time, q string) *queue.Job {
	t.Helper()
	j := claimOne(t, s, now, q)
	finish(t, s, now, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: j.Attempts, FinishedAt: now, ExitCode: intp(1), Error: "exit status 1"})
	return j
}

func intp(n int) *int { return &n }

func boolp(b bool) *bool { return &b }

func durationp(d time.Duration) *time.Duration { return &d }

func sameTime(a, b time.Time) bool { return a.Equal(b) || a.IsZero() && b.IsZero() }

func sameInt(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func showInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// names reports whether text names job id as a whole number.
func names(text string, id int64) bool {
	return regexp.MustCompile(`\b` + strconv.FormatInt(id, 10) + `\b`).MatchString(text)
}
