package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestPendingTimedByLevels: since migration 0005, jobs_queue_ready holds
// no pending job, and a queue's pending jobs are timed by the heads of
// its priority levels in jobs_ready (levelRunAt): jobq stats' oldest
// ready job is the oldest of every level's, and a claim that finds a
// pending job not yet due (its run_at set by a host whose clock runs
// ahead) says when it falls due, whatever its level.
func TestPendingTimedByLevels(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	job := func(priority int, runAt time.Time, st queue.State) queue.JobInsertParams {
		p := testJob("a")
		p.Priority, p.RunAt, p.State = priority, runAt, st
		return p
	}
	if _, err := s.JobInsert(ctx, []queue.JobInsertParams{
		job(9, t0.Add(-time.Minute), queue.StatePending),
		job(5, t0.Add(time.Hour), queue.StatePending), // ahead of Now: skew
		job(1, t0.Add(-2*time.Hour), queue.StatePending),
		job(1, t0.Add(-time.Hour), queue.StatePending),
		job(0, t0.Add(3*time.Hour), queue.StateScheduled),
	}); err != nil {
		t.Fatal(err)
	}
	stats, err := s.QueueStats(ctx, queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || !stats[0].OldestReady.Equal(t0.Add(-2*time.Hour)) {
		t.Fatalf("stats = %+v, want queue a's oldest ready job at %v (priority 1)", stats, t0.Add(-2*time.Hour))
	}
	if got := stats[0].Counts[queue.StatePending]; got != 4 {
		t.Errorf("pending = %d, want 4", got)
	}

	res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 10, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 3 {
		t.Fatalf("claimed %d jobs, want the 3 due", len(res.Jobs))
	}
	if want := t0.Add(time.Hour); !res.NextRunAt.Equal(want) {
		t.Errorf("NextRunAt = %v, want %v: the pending job of priority 5 not yet due", res.NextRunAt, want)
	}
}

// TestMigration0005: a database of migration 0004's schema, holding
// ready jobs of every state, ends with the same schema as a new one once
// opened, its jobs_queue_ready rebuilt without its pending jobs
// (integrity_check compares every index with the table) and its stats
// unchanged.
func TestMigration0005(t *testing.T) {
	t.Parallel()
	fresh, _ := setup(t)
	s, path := setup(t)
	ctx := t.Context()
	var params []queue.JobInsertParams
	for i, st := range []queue.State{queue.StatePending, queue.StateScheduled, queue.StateRetrying, queue.StatePending} {
		p := testJob("q")
		p.State, p.Priority, p.RunAt = st, i%2, t0.Add(time.Duration(i-2)*time.Minute)
		params = append(params, p)
	}
	if _, err := s.JobInsert(ctx, params); err != nil {
		t.Fatal(err)
	}
	statsParams := queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(-time.Hour)}
	want, err := s.QueueStats(ctx, statsParams)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	db := openRaw(t, path)
	for _, undo := range []string{
		"DROP INDEX jobs_queue_ready",
		`CREATE INDEX jobs_queue_ready ON jobs (queue, state, run_at)
	WHERE (state = 'pending' OR state = 'scheduled' OR state = 'retrying')`,
		"PRAGMA user_version = 4",
	} {
		if _, err := db.Exec(undo); err != nil {
			t.Fatalf("%s: %v", undo, err)
		}
	}
	db.Close()

	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := schemaOf(t, s), schemaOf(t, fresh); got != want {
		t.Errorf("schema after migrating from 0004:\n%s\nwant, as a new database's:\n%s", got, want)
	}
	var check string
	if err := s.reader.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q, %v", check, err)
	}
	got, err := s.QueueStats(ctx, statsParams)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(want) != 1 || !got[0].OldestReady.Equal(want[0].OldestReady) ||
		got[0].Counts[queue.StatePending] != want[0].Counts[queue.StatePending] {
		t.Errorf("stats after the migration: %+v, before: %+v", got, want)
	}
}

// schemaOf is every object of s's schema, by type and name, as SQL.
func schemaOf(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.reader.Query("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, def string
		if err := rows.Scan(&typ, &name, &def); err != nil {
			t.Fatal(err)
		}
		b.WriteString(typ + " " + name + ": " + strings.Join(strings.Fields(def), " ") + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
