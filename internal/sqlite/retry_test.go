package sqlite

import (
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jobq/jobq/internal/queue"
)

// commits counts the commits and rollbacks of the writer connection (its
// only one) from now on.
func commits(t *testing.T, s *Store) (committed, rolledBack func() int) {
	t.Helper()
	var c, r int
	conn, err := s.writer.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // back to the pool, hooks and all
	err = conn.Raw(func(dc any) error {
		sc := dc.(*sqlite3.SQLiteConn)
		sc.RegisterCommitHook(func() int { c++; return 0 })
		sc.RegisterRollbackHook(func() { r++ })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() int { return c }, func() int { return r }
}

// TestRetryInBatches: a retry by filter takes at most retryBatch jobs per
// transaction, so that a wave of dead jobs never holds the write lock for
// long; and a dry run still reports what the real run does, though each of
// its batches is rolled back: a job retried in an earlier batch holds its
// unique key and lets the jobs that depend on it wait for it.
func TestRetryInBatches(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	const n = 2*retryBatch + 500
	params := make([]queue.JobInsertParams, n)
	for i := range params {
		params[i] = testJob("wave")
	}
	params[0].UniqueKey = "k"                  // job 1
	params[2*retryBatch+10].After = []int64{5} // job 2011, in the third batch
	if _, err := s.JobInsert(ctx, queue.Jobs(params[:2*retryBatch+10]...)); err != nil {
		t.Fatal(err)
	}
	// job 2011 after job 5, inserted waiting, then the rest.
	if _, err := s.JobInsert(ctx, queue.Jobs(params[2*retryBatch+10:]...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`UPDATE jobs SET state = CASE WHEN state = 'waiting' THEN 'cancelled' ELSE 'dead' END,
		finished_at = ?, updated_at = ?`, ms(t0), ms(t0)); err != nil {
		t.Fatal(err)
	}
	// Job 1101, in the second batch, has job 1's key (which only a job not
	// yet final holds).
	if _, err := s.writer.Exec(`UPDATE jobs SET unique_key = 'k' WHERE id = 1101`); err != nil {
		t.Fatal(err)
	}
	filter := queue.JobFilter{States: []queue.State{queue.StateDead, queue.StateCancelled}, Now: t0}
	check := func(t *testing.T, res []queue.JobRetryResult) {
		t.Helper()
		if len(res) != n {
			t.Fatalf("%d results, want %d", len(res), n)
		}
		for i, r := range res {
			want := queue.StatePending
			var reason string
			switch r.ID {
			case 1101:
				want, reason = "", `job 1 holds its unique key "k"`
			case 2011:
				want = queue.StateWaiting
			}
			if r.ID != int64(i+1) || r.State != want || r.Reason != reason {
				t.Fatalf("result %d: %+v, want job %d %q %q", i, r, i+1, want, reason)
			}
		}
	}

	committed, rolledBack := commits(t, s)
	res, err := s.JobRetry(ctx, queue.JobRetryParams{Filter: filter, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, res)
	if c, r := committed(), rolledBack(); c != 0 || r < n/retryBatch+1 {
		t.Errorf("dry run: %d commits, %d rollbacks; want none and a rollback per batch of %d", c, r, retryBatch)
	}
	if got, err := s.JobCount(ctx, filter); err != nil || got != n {
		t.Errorf("after the dry run, %d jobs dead or cancelled, %v; want all %d", got, err, n)
	}

	res, err = s.JobRetry(ctx, queue.JobRetryParams{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	check(t, res)
	if c := committed(); c < n/retryBatch+1 {
		t.Errorf("retry of %d jobs in %d commits, want a commit per batch of %d", n, c, retryBatch)
	}
	if got, err := s.JobCount(ctx, filter); err != nil || got != 1 {
		t.Errorf("after the retry, %d jobs dead or cancelled, %v; want 1 (job 1101)", got, err)
	}
	if j, err := s.JobGet(ctx, 2011); err != nil || j.State != queue.StateWaiting {
		t.Errorf("job 2011: %v, %v; want waiting for job 5", j, err)
	}
}

// TestRetryBatchReadsCommittedState: a real retry by filter judges each
// batch by the jobs as they are then, not by what its earlier batches did:
// a dependency retried in the first batch may have run and died again
// before the second, and its dependent, retried to wait for it, would
// wait for ever.
func TestRetryBatchReadsCommittedState(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	params := make([]queue.JobInsertParams, retryBatch)
	for i := range params {
		params[i] = testJob("wave")
	}
	params[0].Queue = "dep" // job 1
	if _, err := s.JobInsert(ctx, queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	child := testJob("wave")
	child.After = []int64{1} // job retryBatch+1, in the second batch
	if _, err := s.JobInsert(ctx, queue.Jobs(child)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`UPDATE jobs SET state = CASE WHEN state = 'waiting' THEN 'cancelled' ELSE 'dead' END,
		finished_at = ?, updated_at = ?`, ms(t0), ms(t0)); err != nil {
		t.Fatal(err)
	}
	// Between the batches, a worker runs job 1 again and it dies.
	s.retryBatchDone = func() {
		s.retryBatchDone = nil
		res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 1, Queues: []string{"dep"}, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("claim job 1: %v, %v", res, err)
		}
		j := res.Jobs[0]
		finish := queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: 1, FinishedAt: t0, Error: "exit status 1"}
		if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: []queue.JobFinishParams{finish}}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.JobRetry(ctx, queue.JobRetryParams{Filter: queue.JobFilter{
		States: []queue.State{queue.StateDead, queue.StateCancelled}, Now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != retryBatch+1 {
		t.Fatalf("%d results, want %d", len(res), retryBatch+1)
	}
	if r := res[retryBatch]; r.State != "" || r.Reason != "dependency 1 is dead" {
		t.Errorf("job %d, after job 1 died again: %+v; want it refused: dependency 1 is dead", r.ID, r)
	}
	if j, err := s.JobGet(ctx, retryBatch+1); err != nil || j.State != queue.StateCancelled {
		t.Errorf("job %d: %v, %v; want still cancelled", retryBatch+1, j, err)
	}
}
