package sqlite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jobq/jobq/internal/queue"
)

// TestClaimQueryPlans checks the plans of the claim's queries, as written
// (none names an index): each reads one queue's range of its index,
// found by a seek, and never sorts, so that what a claim reads does not
// grow with other queues' jobs (TestClaimVisitsOneQueue counts it); on a
// new database, with many jobs, and once statistics exist. A plan line is
// wanted whole, so that a scan of an index, or a seek on fewer columns,
// fails. A claim from every queue reads all of job_counts (one row per
// queue and state) to find the queues that hold ready jobs: that is what
// the table is for, and is not checked here.
func TestClaimQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		for _, tt := range []struct {
			name, query string
			args        []any
			want        []string // the plan's lines, in order
		}{
			{"top priority", topLevel, []any{"q1"},
				[]string{"SEARCH jobs USING INDEX jobs_ready (queue=?)"}},
			{"next priority", nextLevel, []any{"q1", 3},
				[]string{"SEARCH jobs USING INDEX jobs_ready (queue=? AND priority<?)"}},
			{"due jobs of a priority", fmt.Sprintf(levelHead, 10), []any{"q1", 3, 1},
				[]string{"SEARCH jobs USING INDEX jobs_ready (queue=? AND priority=? AND run_at<?)"}},
			{"next run", nextRunQuery("scheduled"), []any{"q1", 1},
				[]string{"SEARCH jobs USING COVERING INDEX jobs_queue_ready (queue=? AND state=? AND run_at>?)"}},
			{"due jobs of a held back queue", dueQuery("retrying"), []any{"q1", 1},
				[]string{"SEARCH jobs USING COVERING INDEX jobs_queue_ready (queue=? AND state=? AND run_at<?)"}},
			{"ready queues of a claim's queues", fmt.Sprintf(readyQueues, "AND queue IN (?, ?)"), []any{"q1", "q2"},
				[]string{"SEARCH job_counts USING PRIMARY KEY (queue=?"}},
			{"claim", claimIDs, []any{"w", 1, 1, 1, "[1, 2]"},
				[]string{"SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)", "LIST SUBQUERY 1", "SCAN json_each VIRTUAL TABLE"}},
			{"running jobs of a limited queue", runningCount, []any{"q1"},
				[]string{"SEARCH job_counts USING PRIMARY KEY (queue=? AND state=?)"}},
			{"jobs started lately in a limited queue", startedSince, []any{"q1", 1},
				[]string{"SEARCH jobs USING COVERING INDEX jobs_started (queue=? AND started_at>?)"}},
		} {
			plan := explain(t, s, tt.query, tt.args...)
			ok := len(plan) == len(tt.want)
			for i := 0; ok && i < len(plan); i++ {
				ok = strings.HasPrefix(plan[i], tt.want[i])
			}
			if !ok {
				t.Errorf("plan of %s:\n%s\nwant:\n%s", tt.name, strings.Join(plan, "\n"), strings.Join(tt.want, "\n"))
			}
		}
	}
	t.Run("new database", check)

	var params []queue.JobInsertParams
	for i := range 2000 {
		p := testJob(fmt.Sprintf("q%d", i%5))
		p.Priority = i % 7
		params = append(params, p)
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`UPDATE jobs SET state = 'succeeded', started_at = id, finished_at = id WHERE id % 10 != 0`); err != nil {
		t.Fatal(err)
	}
	t.Run("mostly finished jobs", check)
	// One queue's backlog, all due: the statistics say a run_at range
	// would be narrow, which once made SQLite sort the whole backlog.
	params = params[:0]
	for range 5000 {
		params = append(params, testJob("q1"))
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	checkAnalyzed(t, s, check)
}

// TestListQueryPlans: jobq list -q reads the queue's range of jobs_queue,
// newest first, with no sort, however many jobs other queues hold; list
// --state pending merges the pending jobs, newest first, with the due
// scheduled and retrying jobs found by the heads of their ranges of
// jobs_queue_ready, and sorts nothing (listJobs). It reads all of
// job_counts, one row per queue and state, to find those ranges.
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		query, args := listJobs(queue.JobFilter{Queues: []string{"q1"}, Limit: 100})
		plan := explain(t, s, query, args...)
		if len(plan) == 0 || !strings.HasPrefix(plan[0], "SEARCH jobs USING INDEX jobs_queue (queue=?)") {
			t.Errorf("list -q does not read a range of jobs_queue:\n%s", strings.Join(plan, "\n"))
		}
		if text := strings.Join(plan, "\n"); strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("list -q sorts:\n%s", text)
		}

		query, args = listJobs(queue.JobFilter{States: []queue.State{queue.StatePending}, Limit: 100, Now: t0})
		plan = explain(t, s, query, args...)
		text := strings.Join(plan, "\n")
		for _, want := range []string{
			"MERGE (UNION ALL)",
			"SEARCH jobs USING COVERING INDEX jobs_state (state=?)",
			"SCAN c\nSEARCH j USING COVERING INDEX jobs_queue_ready (queue=? AND state=? AND run_at<?)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("list --state pending: no %q in its plan:\n%s", want, text)
			}
		}
		for _, line := range plan {
			if strings.Contains(line, "TEMP B-TREE") || strings.HasPrefix(line, "SCAN jobs") || strings.HasPrefix(line, "SCAN j") {
				t.Errorf("list --state pending sorts or scans: %q in\n%s", line, text)
			}
		}

		// With -q, the due scheduled and retrying jobs are looked for in
		// the queues asked only, not in every queue's (a backlog of due
		// jobs in another queue was read whole).
		query, args = listJobs(queue.JobFilter{Queues: []string{"q1"}, States: []queue.State{queue.StatePending}, Limit: 100, Now: t0})
		plan = explain(t, s, query, args...)
		text = strings.Join(plan, "\n")
		if want := "SEARCH c USING PRIMARY KEY (queue=? AND state=?)"; !strings.Contains(text, want) {
			t.Errorf("list -q --state pending: no %q in its plan:\n%s", want, text)
		}
		if strings.Contains(text, "SCAN c") {
			t.Errorf("list -q --state pending reads every queue's counts:\n%s", text)
		}
	}
	t.Run("new database", check)
	var params []queue.JobInsertParams
	for i := range 2000 {
		params = append(params, testJob(fmt.Sprintf("q%d", i%5)))
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`UPDATE jobs SET state = 'succeeded', finished_at = id WHERE id % 10 != 0`); err != nil {
		t.Fatal(err)
	}
	t.Run("mostly finished jobs", check)
	checkAnalyzed(t, s, check)
}

// TestWorkQueryPlans: taking back expired leases and deleting old jobs
// read their partial indexes, not the whole table, and never sort: a
// delete takes the oldest few (retention: 500) of what may be every job
// past its retention, and a sort would read them all each time; as jobq
// opens databases (no ANALYZE ever run), and also once statistics exist.
// The queries name their index: without the hint,
// SQLite reads every running job through jobs_state to find the few whose
// lease ended. So "uses the index" and "no SCAN" cannot fail here (the
// query would fail first); what the test proves is that the index serves
// the order, no TEMP B-TREE.
func TestWorkQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	deleteOne, deleteOneArgs := deleteJobs(queue.JobFilter{
		States: []queue.State{queue.StateSucceeded}, Before: t0, Limit: 10})
	deleteTwo, deleteTwoArgs := deleteJobs(queue.JobFilter{
		States: []queue.State{queue.StateDead, queue.StateCancelled}, Queues: []string{"q1"}, Before: t0, Limit: 10})
	deleteAll, deleteAllArgs := deleteJobs(queue.JobFilter{ // as retention deletes dead and cancelled jobs
		States: []queue.State{queue.StateDead, queue.StateCancelled}, Before: t0, Limit: 10})
	check := func(t *testing.T) {
		t.Helper()
		for _, tt := range []struct {
			name, query, index string
			args               []any
		}{
			{"expired leases", expiredJobs, "jobs_lease", []any{1}},
			{"delete", deleteOne, "jobs_finished", deleteOneArgs},
			{"delete of two states in a queue", deleteTwo, "jobs_finished", deleteTwoArgs},
			{"delete of two states", deleteAll, "jobs_finished", deleteAllArgs},
		} {
			plan := explain(t, s, tt.query, tt.args...)
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "INDEX "+tt.index) {
				t.Errorf("%s does not use index %s:\n%s", tt.name, tt.index, text)
			}
			for _, line := range plan {
				if strings.Contains(line, "SCAN jobs") && !strings.Contains(line, "INDEX") {
					t.Errorf("%s scans the whole table: %q in\n%s", tt.name, line, text)
				}
				if strings.Contains(line, "TEMP B-TREE") {
					t.Errorf("%s sorts: %q in\n%s", tt.name, line, text)
				}
			}
		}
	}
	t.Run("new database", check)

	var params []queue.JobInsertParams
	for i := range 2000 {
		params = append(params, testJob(fmt.Sprintf("q%d", i%5)))
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	// Mostly final jobs, some running, as a long-lived queue holds.
	if _, err := s.writer.Exec(`UPDATE jobs SET state = CASE WHEN id % 10 = 0 THEN 'running' ELSE 'succeeded' END,
		finished_at = CASE WHEN id % 10 = 0 THEN NULL ELSE id END,
		lease_until = CASE WHEN id % 10 = 0 THEN id END`); err != nil {
		t.Fatal(err)
	}
	t.Run("mostly finished jobs", check)

	checkAnalyzed(t, s, check)
}

func explain(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.writer.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestIndexesMatchStates: the partial indexes name their states literally
// (SQLite matches a query to an index's condition word for word), so the
// schema repeats the domain's lists; they must be the lists the queries
// are built from.
func TestIndexesMatchStates(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	for _, tt := range []struct{ index, want string }{
		{"jobs_ready", "WHERE " + readyCondition},
		{"jobs_queue_ready", "WHERE " + readyCondition},
		{"jobs_unique_key", "state NOT IN (" + finalStates + ")"},
	} {
		var def string
		if err := s.reader.QueryRow("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?", tt.index).Scan(&def); err != nil {
			t.Fatalf("index %s: %v", tt.index, err)
		}
		if !strings.HasSuffix(strings.Join(strings.Fields(def), " "), tt.want) {
			t.Errorf("index %s is\n%s\nwant it to end with %q, from queue's lists of states", tt.index, def, tt.want)
		}
	}
}

// TestLastOutputPlan: the last line of a job's output is read through the
// attempts' (job_id, run) index, the latest attempt first, not by reading
// every attempt of the job, or every attempt.
func TestLastOutputPlan(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	plan := strings.Join(explain(t, s, "SELECT "+readColumns+" FROM jobs WHERE id = ?", 1), "\n")
	if !strings.Contains(plan, "SEARCH attempts USING INDEX sqlite_autoindex_attempts_1 (job_id=?)") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of JobGet:\n%s\nwant the attempts searched by index, unsorted", plan)
	}
}

// TestDependentsPlan: the jobs waiting for a job that ended are found from
// job_deps by depends_on, each then looked up by its ID (in the table, or
// in jobs_state by state and ID once analyzed), never by reading every
// waiting job through jobs_state, and in ID order without a sort; as written, with no hint
// but the CROSS JOIN, on a new database and once statistics exist.
func TestDependentsPlan(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		plan := explain(t, s, dependents, 1)
		text := strings.Join(plan, "\n")
		if len(plan) == 0 || !strings.HasPrefix(plan[0], "SEARCH d USING COVERING INDEX job_deps_depends_on (depends_on=?)") {
			t.Errorf("dependents does not start by searching job_deps by depends_on:\n%s", text)
		}
		if len(plan) != 2 || !strings.HasPrefix(plan[1], "SEARCH j ") || !strings.Contains(plan[1], "id=?") {
			t.Errorf("dependents does not look each job up by its ID:\n%s", text)
		}
		if strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("dependents sorts:\n%s", text)
		}
	}
	t.Run("new database", check)

	// Many waiting jobs, few of them per dependency.
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

// TestStatsQueryPlans: jobq stats reads its indexes, never the table, and
// sorts only where it says it does. The queries name their index (see
// TestWorkQueryPlans), so what can fail here is the range read and
// the sorts: the ready counts read the head of a range of
// jobs_queue_ready with no sort; the recent counts read a range of
// jobs_finished and sort only for their GROUP BY (see recentEnded).
func TestStatsQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		for _, st := range queue.ReadyStates {
			plan := explain(t, s, readyStatsQuery(st), "q1", 1)
			text := strings.Join(plan, "\n")
			if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH jobs USING COVERING INDEX jobs_queue_ready (queue=? AND state=? AND run_at<?)") {
				t.Errorf("ready stats of %s: want one range of jobs_queue_ready, covering; got\n%s", st, text)
			}
		}
		plan := explain(t, s, recentEnded, 1)
		text := strings.Join(plan, "\n")
		if len(plan) != 2 || !strings.HasPrefix(plan[0], "SEARCH jobs USING COVERING INDEX jobs_finished (state=? AND finished_at>?)") ||
			plan[1] != "USE TEMP B-TREE FOR GROUP BY" {
			t.Errorf("recent stats: want a range of jobs_finished, covering, sorted only for GROUP BY; got\n%s", text)
		}
	}
	t.Run("new database", check)

	var params []queue.JobInsertParams
	for i := range 2000 {
		params = append(params, testJob(fmt.Sprintf("q%d", i%5)))
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`UPDATE jobs SET state = CASE WHEN id % 10 = 0 THEN 'scheduled' ELSE 'succeeded' END,
		finished_at = CASE WHEN id % 10 = 0 THEN NULL ELSE id END`); err != nil {
		t.Fatal(err)
	}
	t.Run("mostly finished jobs", check)
	checkAnalyzed(t, s, check)
}

// TestTriggerMatchesStates: jobs_transition logs the job's last error with
// a transition to one of queue.EventErrorStates; the trigger names them
// literally, being SQL, and must name that list.
func TestTriggerMatchesStates(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	var def string
	if err := s.reader.QueryRow("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'jobs_transition'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	want := "CASE WHEN " + sqlOneOf("new.state", queue.EventErrorStates) + " THEN new.last_error END"
	if !strings.Contains(strings.Join(strings.Fields(def), " "), want) {
		t.Errorf("trigger jobs_transition is\n%s\nwant it to contain %q, from queue.EventErrorStates", def, want)
	}
}

// checkAnalyzed runs check again once the database has statistics: jobq
// never runs ANALYZE, but a user's sqlite3 session may, and the plans must
// hold either way.
func checkAnalyzed(t *testing.T, s *Store, check func(*testing.T)) {
	t.Helper()
	if _, err := s.writer.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	t.Run("analyzed", check)
}

// TestUnclaimPlan: the hand-back of a job never started finds the job by
// its ID, its claim's event through events_job (job_id, id) from the
// newest, and the attempt before through attempts' (job_id, run) key:
// what it reads is bounded by the job's own events, never a scan of a
// table or an index, nor a sort; on a new database, with many jobs and
// events, and once statistics exist.
func TestUnclaimPlan(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		plan := explain(t, s, unclaimJob, "pending", 1, "cancelled", "e", 1, 1)
		text := strings.Join(plan, "\n")
		for _, want := range []string{
			"SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)",
			"SEARCH e USING INDEX events_job (job_id=?)",
			"SEARCH a USING INDEX sqlite_autoindex_attempts_1 (job_id=? AND run=?)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("plan of unclaimJob:\n%s\nwant a line %q", text, want)
			}
		}
		if strings.Contains(text, "SCAN") || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("plan of unclaimJob scans or sorts:\n%s", text)
		}
	}
	t.Run("new database", check)

	var params []queue.JobInsertParams
	for range 2000 {
		params = append(params, testJob("q1"))
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(params...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`UPDATE jobs SET state = 'retrying' WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	t.Run("many events", check)
	checkAnalyzed(t, s, check)
}
