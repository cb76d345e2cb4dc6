package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestCountsExactAfterMixedOperations: job_counts and job_ends stay exact
// through random mixes of every operation that moves jobs, checked after
// each one: inserts (scheduled, waiting for others), claims that record
// outcomes of every kind in the same call (failures, interruptions,
// cancels, hand-backs of jobs never started, outcomes sent twice or by a
// worker that lost the job, out of order), leases taken back, cancels,
// retries, deletes and heartbeats. The claim, the finish and the
// hand-back count their own transitions; the triggers count the rest
// (migration 0004). job_counts is compared with the jobs themselves,
// job_ends with the ends the events log.
func TestCountsExactAfterMixedOperations(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			s, _ := setup(t)
			m := &mix{t: t, s: s, rng: rand.New(rand.NewPCG(seed, 1)), now: t0, ends: map[[2]string]int{}}
			for step := range 300 {
				m.now = m.now.Add(time.Duration(m.rng.IntN(20)) * time.Second)
				op := m.step()
				m.tallyEnds()
				if wrong := countsWrong(t, s); len(wrong) > 0 {
					t.Fatalf("step %d, after %s: job_counts disagrees with the jobs: %s", step, op, strings.Join(wrong, "; "))
				}
				if got := jobEnds(t, s); !maps.Equal(got, m.ends) {
					t.Fatalf("step %d, after %s: job_ends %v, want the ends logged, %v", step, op, got, m.ends)
				}
			}
		})
	}
}

// mix drives a store with random operations, as workers and users would.
type mix struct {
	t       *testing.T
	s       *Store
	rng     *rand.Rand
	now     time.Time
	ids     []int64   // every job inserted
	held    []heldJob // claimed, no outcome sent yet
	ends    map[[2]string]int
	tallied int64 // the last event counted in ends
}

// heldJob is a job claimed and the worker that claimed it.
type heldJob struct {
	job    *queue.Job
	worker string
}

// step runs one random operation and names it.
func (m *mix) step() string {
	switch r := m.rng.IntN(10); {
	case r < 2:
		m.insert()
		return "insert"
	case r < 6:
		m.claim()
		return "claim"
	case r < 7:
		if len(m.ids) > 0 {
			if _, err := m.s.JobCancel(m.t.Context(), queue.JobCancelParams{IDs: m.someIDs(3), Now: m.now}); err != nil {
				m.t.Fatal(err)
			}
		}
		return "cancel"
	case r < 8:
		if len(m.ids) > 0 {
			_, err := m.s.JobRetry(m.t.Context(), queue.JobRetryParams{Filter: queue.JobFilter{IDs: m.someIDs(2), Now: m.now}})
			if err != nil {
				m.t.Fatal(err)
			}
		}
		return "retry"
	case r < 9:
		if len(m.ids) > 0 {
			if _, err := m.s.JobDelete(m.t.Context(), queue.JobFilter{IDs: m.someIDs(1), Now: m.now}); err != nil {
				m.t.Fatal(err)
			}
		}
		return "delete"
	default:
		// Only w1 keeps its leases: w2's jobs are taken back once they end.
		var refs []queue.JobRef
		for _, h := range m.held {
			if h.worker == "w1" {
				refs = append(refs, queue.JobRef{ID: h.job.ID, Run: h.job.Run})
			}
		}
		_, err := m.s.JobHeartbeat(m.t.Context(), queue.JobHeartbeatParams{Worker: "w1", Jobs: refs, LeaseUntil: m.now.Add(40 * time.Second)})
		if err != nil {
			m.t.Fatal(err)
		}
		return "heartbeat"
	}
}

// someIDs picks 1 to n of the jobs inserted, perhaps one twice.
func (m *mix) someIDs(n int) []int64 {
	ids := make([]int64, m.rng.IntN(n)+1)
	for i := range ids {
		ids[i] = m.ids[m.rng.IntN(len(m.ids))]
	}
	return ids
}

// insert enqueues a few jobs into three queues, some scheduled for later,
// some waiting for a job inserted before.
func (m *mix) insert() {
	params := make([]queue.JobInsertParams, m.rng.IntN(6)+1)
	for i := range params {
		p := testJob([]string{"a", "b", "c"}[m.rng.IntN(3)])
		p.RunAt, p.CreatedAt, p.MaxAttempts = m.now, m.now, m.rng.IntN(3)+1
		if m.rng.IntN(4) == 0 {
			p.State, p.RunAt = queue.StateScheduled, m.now.Add(30*time.Second)
		}
		if len(m.ids) > 0 && m.rng.IntN(4) == 0 {
			p.After = m.someIDs(1)
		}
		params[i] = p
	}
	ids, err := m.s.JobInsert(m.t.Context(), queue.Jobs(params...))
	if err != nil && !errors.Is(err, queue.ErrNotFound) { // --after a job deleted: nothing written
		m.t.Fatalf("insert: %v", err)
	}
	m.ids = append(m.ids, ids...)
}

// claim sends the outcomes of about half the jobs held, in a shuffled
// order, some twice, and claims up to 7 jobs, perhaps taking back the
// jobs whose lease ended.
func (m *mix) claim() {
	var finish []queue.JobFinishParams
	var kept []heldJob
	for _, h := range m.held {
		if m.rng.IntN(2) == 0 {
			kept = append(kept, h)
			continue
		}
		res := queue.Result{FinishedAt: m.now, ExitCode: new(int)}
		switch m.rng.IntN(6) {
		case 0:
			*res.ExitCode = 1
		case 1:
			res.Interrupted = true
		case 2:
			res.Cancelled = true
		}
		p := queue.Decide(h.job, res, 0)
		if m.rng.IntN(5) == 0 { // its command never started
			p.Unstarted = true
			if p.State != queue.StateCancelled {
				p.State = queue.StatePending
			}
		}
		finish = append(finish, p)
		if m.rng.IntN(8) == 0 {
			finish = append(finish, p)
		}
	}
	m.held = kept
	m.rng.Shuffle(len(finish), func(i, j int) {
		if m.rng.IntN(3) == 0 {
			finish[i], finish[j] = finish[j], finish[i]
		}
	})
	worker := []string{"w1", "w2"}[m.rng.IntN(2)]
	params := queue.JobClaimParams{Limit: m.rng.IntN(8), Worker: worker, Now: m.now,
		LeaseUntil: m.now.Add(40 * time.Second), Finish: finish}
	if m.rng.IntN(2) == 0 {
		params.Expired = func(job *queue.Job) queue.JobFinishParams { return queue.LeaseExpired(job, m.now, 0) }
	}
	res, err := m.s.JobClaim(m.t.Context(), params)
	if err != nil {
		m.t.Fatalf("claim: %v", err)
	}
	for _, job := range res.Jobs {
		m.held = append(m.held, heldJob{job, worker})
	}
}

// tallyEnds adds to m.ends the ends logged since the last tally, by queue
// and final state: the events of a deleted job go with it, so they are
// counted as they come.
func (m *mix) tallyEnds() {
	err := eachRow(m.t.Context(), m.s.reader, `SELECT e.id, j.queue, e.to_state FROM events e JOIN jobs j ON j.id = e.job_id
		WHERE e.id > ? AND (e.to_state = 'succeeded' OR e.to_state = 'dead' OR e.to_state = 'cancelled')`, []any{m.tallied},
		func(rows *sql.Rows) error {
			var q, st string
			if err := rows.Scan(new(int64), &q, &st); err != nil {
				return err
			}
			m.ends[[2]string{q, st}]++
			return nil
		})
	if err != nil {
		m.t.Fatal(err)
	}
	if err := m.s.reader.QueryRow("SELECT coalesce(max(id), 0) FROM events").Scan(&m.tallied); err != nil {
		m.t.Fatal(err)
	}
}

// TestCountsWithPreUpgradeStatements: a jobq started before migration
// 0004 (a worker finishing its jobs in its stop grace period while a newer
// jobq migrates the file) claims, finishes and hands back jobs with its
// own statements, which know nothing of counted: the triggers count
// them. Had they not, running would stay counted for ever, and a queue
// limited to one running job would start none again.
func TestCountsWithPreUpgradeStatements(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	ctx := t.Context()
	one := 1
	if err := s.QueueSet(ctx, queue.QueueSetParams{Name: "a", Concurrency: &one}); err != nil {
		t.Fatal(err)
	}
	ids, err := s.JobInsert(ctx, queue.Jobs(testJob("a"), testJob("a"), testJob("a")))
	if err != nil {
		t.Fatal(err)
	}
	// The statements as the jobq before 0004 has them (claim.go at the
	// first parent of "Merge sqlwrite"), run by another process.
	old := openRaw(t, path)
	oldClaim := func(id int64) {
		t.Helper()
		if _, err := old.Exec(`UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = ?, lease_until = ?, started_at = ?, updated_at = ?, progress = NULL, progress_message = NULL, progress_at = NULL
WHERE id IN (SELECT value FROM json_each(?))`, "old", ms(t0.Add(time.Hour)), ms(t0), ms(t0), fmt.Sprintf("[%d]", id)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(after string, wantEnds map[[2]string]int) {
		t.Helper()
		if wrong := countsWrong(t, s); len(wrong) > 0 {
			t.Errorf("after %s: job_counts disagrees with the jobs: %s", after, strings.Join(wrong, "; "))
		}
		if got := jobEnds(t, s); !maps.Equal(got, wantEnds) {
			t.Errorf("after %s: job_ends %v, want %v", after, got, wantEnds)
		}
	}

	oldClaim(ids[0])
	check("the old claim", map[[2]string]int{})
	res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 3, Worker: "new", Now: t0, LeaseUntil: t0.Add(time.Hour)})
	if err != nil || len(res.Jobs) != 0 {
		t.Fatalf("claim while the old worker runs the queue's one job: %d jobs, %v; want none", len(res.Jobs), err)
	}

	if _, err := old.Exec(`UPDATE jobs SET state = ?, attempts = ?, run_at = coalesce(?, run_at),
	finished_at = ?, exit_code = ?, signal = ?, last_error = ?, updated_at = ?,
	worker = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ? AND run = ? AND state = 'running'`, "succeeded", 1, nil, ms(t0), 0, nil, nil, ms(t0), ids[0], 1); err != nil {
		t.Fatal(err)
	}
	check("the old finish", map[[2]string]int{{"a", "succeeded"}: 1})

	oldClaim(ids[1])
	if _, err := old.Exec(`UPDATE jobs SET state = ?, attempts = attempts - 1, run = run - 1,
	started_at = (SELECT a.started_at FROM attempts a WHERE a.job_id = jobs.id AND a.run = jobs.run - 1),
	finished_at = coalesce(?, finished_at), last_error = ?, updated_at = ?,
	worker = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ? AND run = ? AND state = 'running'`, "pending", nil, "handed back", ms(t0), ids[1], 1); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`DELETE FROM attempts WHERE job_id = ? AND run = ?`, ids[1], 1); err != nil {
		t.Fatal(err)
	}
	check("the old claim and hand-back", map[[2]string]int{{"a", "succeeded"}: 1})

	res, err = s.JobClaim(ctx, queue.JobClaimParams{Limit: 3, Worker: "new", Now: t0, LeaseUntil: t0.Add(time.Hour)})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("claim once the old worker is done: %d jobs, %v; want the queue's one", len(res.Jobs), err)
	}
	check("a claim of this jobq", map[[2]string]int{{"a", "succeeded"}: 1})
}

// countsWrong lists each queue and state whose count in job_counts is not
// the number of jobs it holds.
func countsWrong(t *testing.T, s *Store) []string {
	t.Helper()
	var wrong []string
	err := eachRow(t.Context(), s.reader, `SELECT queue, state, coalesce(c.n, 0), coalesce(j.n, 0)
		FROM (SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state) j
		FULL JOIN (SELECT * FROM job_counts WHERE n != 0) c USING (queue, state) WHERE j.n IS NOT c.n`, nil,
		func(rows *sql.Rows) error {
			var q, st string
			var counted, holds int
			if err := rows.Scan(&q, &st, &counted, &holds); err != nil {
				return err
			}
			wrong = append(wrong, fmt.Sprintf("%s %s: counted %d, holds %d", q, st, counted, holds))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return wrong
}

// jobEnds reads job_ends: how many jobs ended, by queue and final state.
func jobEnds(t *testing.T, s *Store) map[[2]string]int {
	t.Helper()
	ends := map[[2]string]int{}
	err := eachRow(t.Context(), s.reader, "SELECT queue, state, n FROM job_ends WHERE n != 0", nil, func(rows *sql.Rows) error {
		var q, st string
		var n int
		if err := rows.Scan(&q, &st, &n); err != nil {
			return err
		}
		ends[[2]string{q, st}] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ends
}
