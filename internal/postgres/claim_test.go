package postgres

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
)

// bigQueue fills queue "big" with n jobs whose time has come, a few in
// "small", and analyzes the table, as autovacuum would.
func bigQueue(t *testing.T, s *Store, conn *pgx.Conn, n int) {
	t.Helper()
	for left := n; left > 0; {
		batch := make([]queue.JobInsertParams, min(left, 5000))
		for i := range batch {
			batch[i] = testJob("big")
		}
		if _, err := s.JobInsert(t.Context(), queue.Jobs(batch...)); err != nil {
			t.Fatal(err)
		}
		left -= len(batch)
	}
	small := make([]queue.JobInsertParams, 3)
	for i := range small {
		small[i] = testJob("small")
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(small...)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "ANALYZE jobs"); err != nil {
		t.Fatal(err)
	}
}

// tuplesRead is how many rows and index entries the server has read
// from jobs, by the cumulative statistics; flush makes the store's
// connection report its own first.
func tuplesRead(t *testing.T, s *Store, conn *pgx.Conn) int64 {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the flush happens as the backend goes idle
	var n int64
	if _, err := conn.Exec(t.Context(), "SELECT pg_stat_clear_snapshot()"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), `SELECT coalesce(seq_tup_read, 0) + (SELECT coalesce(sum(idx_tup_read), 0)
		FROM pg_stat_user_indexes WHERE relname = 'jobs')::bigint
		FROM pg_stat_user_tables WHERE relname = 'jobs'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPausedQueueCostsNothing: a claim reads the head of each queue that
// may start a job, not a paused queue's backlog: claiming from a small
// queue beside a big paused one reads a few rows, however big.
func TestPausedQueueCostsNothing(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s, err := Open(t.Context(), url, Options{BusyTimeout: 5 * time.Second, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn := connect(t, url)
	const n = 20000
	bigQueue(t, s, conn, n)
	if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "big", Paused: new(true)}); err != nil {
		t.Fatal(err)
	}
	before := tuplesRead(t, s, conn)
	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	read := tuplesRead(t, s, conn) - before
	if len(res.Jobs) != 3 {
		t.Errorf("claimed %d jobs, want small's 3", len(res.Jobs))
	}
	if read > 200 {
		t.Errorf("a claim beside a paused queue of %d jobs read %d rows and index entries of jobs; want a few", n, read)
	}
	t.Logf("read %d", read)
}

// TestClaimQueryPlans: after ANALYZE of a big table, the queries of a
// claim and of the next run time read jobs through an index led by
// queue, and a finish through the primary key: no Seq Scan on jobs, no
// full scan of an index. They are planned as the store runs them:
// prepared, with generic plans (JobClaim's plan_cache_mode), whose
// estimates cannot see the arguments. Statements that write run in a
// transaction rolled back.
func TestClaimQueryPlans(t *testing.T) {
	t.Parallel()
	s, url := setup(t)
	conn := connect(t, url)
	bigQueue(t, s, conn, 20000)
	now := ms(t0)
	// Many running jobs, of which a finish records two: the last, from
	// the end of the table, as a scan from its start that stops at the
	// first match would find the first two at once.
	var running []int64
	if err := conn.QueryRow(t.Context(), `WITH c AS (UPDATE jobs SET state = 'running', run = 1, worker = 'w', started_at = 0
		WHERE id IN (SELECT id FROM jobs WHERE queue = 'big' ORDER BY id DESC LIMIT 500) RETURNING id)
		SELECT array_agg(id ORDER BY id) FROM c`).Scan(&running); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "ANALYZE jobs"); err != nil {
		t.Fatal(err)
	}
	one := []*int64{new(now), new(now)}
	last := running[len(running)-2:]
	for _, tt := range []struct {
		name string
		sql  string
		args []any
	}{
		{"readyQueues", readyQueues, []any{[]string{"small"}}},
		{"readyQueues, every queue", readyQueues, []any{nil}},
		{"claimReady", claimReady, []any{"w", now, now, []string{"small"}, 5, nil, nil, []int64{}, 4}},
		{"claimReady, every queue", claimReady, []any{"w", now, now, nil, 5, nil, nil, []int64{}, 4}},
		{"claimReady, big one limited", claimReady, []any{"w", now, now, nil, 5, []string{"big"}, []int64{2}, []int64{}, 4}},
		{"nextRun", nextRun, []any{[]string{"small"}, now}},
		{"nextRun, every queue", nextRun, []any{nil, now}},
		{"waitedOn", waitedOn, []any{last}},
		{"leaseCheck", leaseCheck, []any{true, now}},
		{"claimCheck", claimCheck, []any{nil, last, true}},
		{"dueAny", dueAny, []any{"big", "pending", now}},
		{"finishSet", finishSet, []any{last, []int64{1, 1}, []string{"succeeded", "succeeded"}, []int64{1, 1},
			[]*int64{nil, nil}, one, one, one, []*string{nil, nil}, [][]byte{nil, nil}, [][]byte{{}, {}}, one}},
		// The claim's event, found among the job's own events (events_job).
		{"unclaimJob", unclaimJob, []any{"pending", now, []byte("cancelled"), []byte("not started"), last[0], 1}},
	} {
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// As the store runs them: prepared, with generic plans.
		if _, err := tx.Exec(t.Context(), "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), "PREPARE q AS "+tt.sql); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var types []string
		if err := tx.QueryRow(t.Context(), "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'q'").Scan(&types); err != nil {
			t.Fatal(err)
		}
		// EXPLAIN EXECUTE takes no parameters: the arguments as literals.
		params := make([]string, len(types))
		for i, typ := range types {
			if err := tx.QueryRow(t.Context(), "SELECT quote_nullable($1::"+typ+"::text) || '::"+typ+"'", tt.args[i]).Scan(&params[i]); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.Query(t.Context(), "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q ("+strings.Join(params, ", ")+")")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), "DEALLOCATE q"); err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if scan := fullScan(lines); scan != "" {
			t.Errorf("%s reads the whole table or an index of it (%s):\n%s", tt.name, scan, plan)
		}
		for _, line := range lines {
			// "actual time=... rows=N": no node returns thousands.
			if i := strings.Index(line, " rows="); i >= 0 && strings.Contains(line, "actual") {
				var got int
				if _, err := fmt.Sscanf(line[strings.LastIndex(line, "rows=")+5:], "%d", &got); err == nil && got > 100 {
					t.Errorf("%s: a node returns %d rows:\n%s", tt.name, got, plan)
				}
			}
		}
		if testing.Verbose() {
			t.Logf("%s:\n%s", tt.name, plan)
		}
	}
}

// jobsScan is a plan node that reads jobs or events (unclaimJob), or one
// of their indexes.
var jobsScan = regexp.MustCompile(`Seq Scan on (jobs|events)\b|Index (Only )?Scan (Backward )?using \S+ on (jobs|events)\b|Bitmap Index Scan on (jobs|events)_`)

// fullScan returns the first node of the EXPLAIN lines that reads the
// whole of jobs or events: a Seq Scan, or a scan of one of its indexes
// without an Index Cond among its details (the lines after it up to the
// next node or one indented no deeper), "" if none does.
func fullScan(lines []string) string {
	for i, line := range lines {
		if !jobsScan.MatchString(line) {
			continue
		}
		node := strings.TrimSpace(line)
		if strings.Contains(line, "Seq Scan") {
			return node
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		cond := false
		for _, detail := range lines[i+1:] {
			trimmed := strings.TrimLeft(detail, " ")
			if len(detail)-len(trimmed) <= indent || strings.HasPrefix(trimmed, "->") {
				break
			}
			cond = cond || strings.HasPrefix(trimmed, "Index Cond:")
		}
		if !cond {
			return node
		}
	}
	return ""
}

// TestFullScan: fullScan tells a scan of an index with a condition from
// one without, whichever node follows.
func TestFullScan(t *testing.T) {
	for _, tt := range []struct {
		plan string
		want bool
	}{
		{"Seq Scan on jobs  (cost=0..1)", true},
		{"Seq Scan on job_deps  (cost=0..1)", false},
		{"Update on jobs\n  SubPlan 1\n    ->  Limit\n          ->  Seq Scan on events e  (cost=0..1)\n                Filter: (x)", true},
		{"Limit\n  ->  Index Scan Backward using events_job on events e  (cost=0..1)\n        Index Cond: (job_id = jobs.id)", false},
		{"Limit\n  ->  Index Scan using jobs_ready on jobs  (cost=0..1)\n        Filter: (x)\n  ->  Index Scan using jobs_pkey on jobs j\n        Index Cond: (id = 1)", true},
		{"Limit\n  ->  Index Only Scan using jobs_queue_ready on jobs  (cost=0..1)\n        Index Cond: (queue = 'a')\n        Heap Fetches: 0", false},
		{"Update on jobs\n  ->  Index Scan using jobs_pkey on jobs  (cost=0..1)\n  InitPlan 1\n    ->  Result\n          Index Cond: (x)", true},
		{"Bitmap Heap Scan on jobs\n  Recheck Cond: (x)\n  ->  Bitmap Index Scan on jobs_ready  (cost=0..1)", true},
	} {
		if got := fullScan(strings.Split(tt.plan, "\n")) != ""; got != tt.want {
			t.Errorf("fullScan(%q) = %v, want %v", tt.plan, got, tt.want)
		}
	}
}

// TestUnreadableClaim: a ready job whose row holds bad data ends dead in
// the claim that takes it, and its neighbour in that claim runs
// (queuetest.RunUnreadableClaim): on the fast path, whose batch commits
// before its rows are read (the job ends dead in a transaction of its
// own), and on the step path (a limited queue), which used to roll back
// every claim.
func TestUnreadableClaim(t *testing.T) {
	t.Parallel()
	for _, limited := range []bool{false, true} {
		t.Run(map[bool]string{false: "Fast", true: "Step"}[limited], func(t *testing.T) {
			t.Parallel()
			s, url := setup(t)
			conn := connect(t, url)
			queuetest.RunUnreadableClaim(t, s, func(t *testing.T, id int64) {
				if _, err := conn.Exec(t.Context(), "UPDATE jobs SET permanent_exit = 'garbage' WHERE id = $1", id); err != nil {
					t.Fatal(err)
				}
			}, "invalid exit codes", limited)
		})
	}
}

// TestUnreadableLease: a lost worker's job whose row holds bad data ends
// dead when its lease is taken back, and the pass goes on
// (queuetest.RunUnreadableLease).
func TestUnreadableLease(t *testing.T) {
	t.Parallel()
	s, url := setup(t)
	conn := connect(t, url)
	queuetest.RunUnreadableLease(t, s, func(t *testing.T, id int64) {
		if _, err := conn.Exec(t.Context(), "UPDATE jobs SET permanent_exit = 'garbage' WHERE id = $1", id); err != nil {
			t.Fatal(err)
		}
	}, "invalid exit codes")
}
