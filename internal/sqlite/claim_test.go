package sqlite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
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
	if _, err := first.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
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
	ids, err := s.JobInsert(t.Context(), queue.Jobs(testJob("a"), testJob("a")))
	if err != nil {
		t.Fatal(err)
	}
	var params []queue.JobInsertParams
	for i := range 2000 {
		p := testJob("b")
		p.After = ids[i%2:][:1]
		params = append(params, p)
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	t.Run("many waiting jobs", check)
	checkAnalyzed(t, s, check)
}

// TestFinishBatch: outcomes recorded together (finishSizes: 18 outcomes
// in ID order are statements of 16 and 4, those after them out of order
// more) end each job as alone, log their events in the order of finish,
// count exactly, and a job's second outcome in one call is lost, as it
// would be recorded alone after the first.
func TestFinishBatch(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	const n = 21
	params := make([]queue.JobInsertParams, n)
	for i := range params {
		params[i] = testJob([]string{"a", "b"}[i%2])
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Limit: n, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute)})
	if err != nil || len(res.Jobs) != n {
		t.Fatalf("claim: %d jobs, %v", len(res.Jobs), err)
	}
	var finish []queue.JobFinishParams
	var order []int64
	for k := range n {
		i := k
		if k >= 18 {
			i = n - 1 - (k - 18) // the last three in reverse
		}
		j := res.Jobs[i]
		st := []queue.State{queue.StateSucceeded, queue.StateDead, queue.StateRetrying}[i%3]
		p := queue.JobFinishParams{ID: j.ID, Run: j.Run, State: st, Attempts: 1, FinishedAt: t0.Add(time.Second),
			ExitCode: new(int), Output: []byte(fmt.Sprint("out ", j.ID)), OutputSize: int64(i)}
		if st == queue.StateRetrying {
			p.RunAt = t0.Add(time.Hour)
		}
		finish = append(finish, p)
		order = append(order, j.ID)
	}
	again := finish[0]
	again.State = queue.StateDead
	res, err = s.JobClaim(t.Context(), queue.JobClaimParams{Finish: append(finish, again), Worker: "w", Now: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lost) != 1 || res.Lost[0] != again.ID {
		t.Errorf("lost %v, want only the second outcome of job %d", res.Lost, again.ID)
	}
	for _, p := range finish {
		job, err := s.JobGet(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != p.State || job.Worker != "" || (p.State == queue.StateRetrying) != job.RunAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("job %d: state %s, worker %q, run at %v; want %s", p.ID, job.State, job.Worker, job.RunAt, p.State)
		}
		var output string
		var size int64
		if err := s.reader.QueryRow("SELECT output, output_size FROM attempts WHERE job_id = ? AND run = ?", p.ID, p.Run).Scan(&output, &size); err != nil {
			t.Fatal(err)
		}
		if output != string(p.Output) || size != p.OutputSize {
			t.Errorf("job %d: attempt output %q, size %d; want %q, %d", p.ID, output, size, p.Output, p.OutputSize)
		}
	}
	rows, err := s.reader.Query("SELECT job_id FROM events WHERE from_state = 'running' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var logged []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		logged = append(logged, id)
	}
	if fmt.Sprint(logged) != fmt.Sprint(order) {
		t.Errorf("ends logged in the order %v, want the order of finish %v", logged, order)
	}
	if wrong := countsWrong(t, s); len(wrong) > 0 {
		t.Errorf("job_counts disagrees with the jobs: %s", strings.Join(wrong, "; "))
	}
	var ends int
	if err := s.reader.QueryRow("SELECT sum(n) FROM job_ends").Scan(&ends); err != nil || ends != 14 {
		t.Errorf("job_ends counts %d ends (%v), want 14", ends, err)
	}
}

// TestUnreadableLease: a lost worker's job whose row holds bad data ends
// dead when its lease is taken back, and the pass goes on
// (queuetest.RunUnreadableLease): data a scan cannot convert, and a
// value jobq cannot parse.
func TestUnreadableLease(t *testing.T) {
	for _, tt := range []struct{ name, set, wantErr string }{
		{"Scan", "timeout_ms = 'garbage'", `"timeout_ms"`},
		{"Parse", "permanent_exit = 'garbage'", "invalid exit codes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, path := setup(t)
			raw := openRaw(t, path)
			queuetest.RunUnreadableLease(t, s, func(t *testing.T, id int64) {
				if _, err := raw.Exec("UPDATE jobs SET "+tt.set+" WHERE id = ?", id); err != nil {
					t.Fatal(err)
				}
			}, tt.wantErr)
		})
	}
}

// TestUnreadableClaim: a ready job whose row holds bad data ends dead in
// the claim that takes it, and its neighbour in that claim runs
// (queuetest.RunUnreadableClaim); it used to fail every claim.
func TestUnreadableClaim(t *testing.T) {
	for _, tt := range []struct{ name, set, wantErr string }{
		{"Scan", "timeout_ms = 'garbage'", `"timeout_ms"`},
		{"Parse", "permanent_exit = 'garbage'", "invalid exit codes"},
	} {
		for _, limited := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/limited=%v", tt.name, limited), func(t *testing.T) {
				t.Parallel()
				s, path := setup(t)
				raw := openRaw(t, path)
				queuetest.RunUnreadableClaim(t, s, func(t *testing.T, id int64) {
					if _, err := raw.Exec("UPDATE jobs SET "+tt.set+" WHERE id = ?", id); err != nil {
						t.Fatal(err)
					}
				}, tt.wantErr, limited)
			})
		}
	}
}

// TestUnreadableRunAttempts: a lost worker's job whose run or attempts
// holds bad data ends dead when its lease is taken back, fenced by its
// lease rather than its run, its dependents settled, and the pass goes
// on to the other expired job; it used to fail every pass.
func TestUnreadableRunAttempts(t *testing.T) {
	for _, set := range []string{"attempts = 'garbage'", "run = 'garbage'", "timeout_ms = 'x', attempts = 'garbage'"} {
		t.Run(set, func(t *testing.T) {
			t.Parallel()
			s, path := setup(t)
			raw := openRaw(t, path)
			ids, err := s.JobInsert(t.Context(), queue.Jobs(testJob("lost"), testJob("lost")))
			if err != nil {
				t.Fatal(err)
			}
			waiting := testJob("next")
			waiting.After = ids[:1]
			if _, err := s.JobInsert(t.Context(), queue.Jobs(waiting)); err != nil {
				t.Fatal(err)
			}
			res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Queues: []string{"lost"}, Limit: 2, Worker: "w", Now: t0, LeaseUntil: t0.Add(30 * time.Second)})
			if err != nil || len(res.Jobs) != 2 {
				t.Fatalf("claim: %+v, %v", res, err)
			}
			bad, other := res.Jobs[0].ID, res.Jobs[1].ID
			if _, err := raw.Exec("UPDATE jobs SET "+set+" WHERE id = ?", bad); err != nil {
				t.Fatal(err)
			}
			for pass := range 2 {
				now := t0.Add(time.Duration(pass+1) * time.Minute)
				res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Worker: "w2", Now: now, LeaseUntil: now.Add(time.Minute),
					Expired: func(j *queue.Job) queue.JobFinishParams { return queue.LeaseExpired(j, now, 0.5) }})
				if err != nil {
					t.Fatalf("pass %d: %v", pass, err)
				}
				if pass == 0 && (len(res.Expired) != 2 || res.Expired[1].ID != bad || res.Expired[1].State != queue.StateDead ||
					!strings.Contains(res.Expired[1].Error, "cannot be read")) {
					t.Errorf("pass 0: res.Expired = %+v; want job %d taken back, then job %d ended dead", res.Expired, other, bad)
				}
			}
			states := map[int64]string{}
			rows, err := raw.Query("SELECT id, state FROM jobs")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var st string
				if err := rows.Scan(&id, &st); err != nil {
					t.Fatal(err)
				}
				states[id] = st
			}
			if states[bad] != "dead" || states[other] == "running" || states[ids[1]+1] != "cancelled" {
				t.Errorf("jobs' states %v; want %d dead, %d taken back, %d (waiting for %d) cancelled", states, bad, other, ids[1]+1, bad)
			}
			var dead, running int
			if err := raw.QueryRow("SELECT coalesce(sum(n) FILTER (WHERE state = 'dead'), 0), coalesce(sum(n) FILTER (WHERE state = 'running'), 0) FROM job_counts WHERE queue = 'lost'").Scan(&dead, &running); err != nil {
				t.Fatal(err)
			}
			if dead != 1 || running != 0 {
				t.Errorf("job_counts of queue lost: %d dead, %d running; want 1, 0", dead, running)
			}
			// Its attempt ended with it (jobq logs -f waits on an open one).
			var open int
			if err := raw.QueryRow("SELECT count(*) FROM attempts WHERE job_id = ? AND finished_at IS NULL", bad).Scan(&open); err != nil {
				t.Fatal(err)
			}
			if open != 0 {
				t.Errorf("job %d ended dead with %d attempts still open", bad, open)
			}
		})
	}
}
