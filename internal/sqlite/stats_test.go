package sqlite

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestEndTriggerMatchesStates: jobs_count_end counts the transitions to
// queue.FinalStates, which it names literally, being SQL.
func TestEndTriggerMatchesStates(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	var def string
	if err := s.reader.QueryRow("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'jobs_count_end'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	want := sqlOneOf("new.state", queue.FinalStates)
	if !strings.Contains(strings.Join(strings.Fields(def), " "), want) {
		t.Errorf("trigger jobs_count_end is\n%s\nwant it to contain %q, from queue.FinalStates", def, want)
	}
}

// TestPingSeesTheFileGone: a database file removed or replaced under an open
// store fails Ping, though every read of the old file still succeeds.
func TestPingSeesTheFileGone(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		do   func(path string) error
		want string
	}{
		{"removed", func(path string) error { return os.Remove(path) }, "no such file or directory"},
		{"replaced by a directory", func(path string) error {
			return errors.Join(os.Remove(path), os.Mkdir(path, 0o700))
		}, "was replaced since jobq opened it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, path := setup(t)
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping before: %v", err)
			}
			if err := tt.do(path); err != nil {
				t.Fatal(err)
			}
			if _, err := s.QueueStats(t.Context(), queue.QueueStatsParams{}); err != nil {
				t.Fatalf("QueueStats of the old file: %v", err)
			}
			if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ping = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestMigration0002Backfills: a database made before migration 0002 has
// final jobs and schedules whose jobs ended; 0002 counts those ends, and
// the schedules' last success and failures in a row, from the jobs it
// holds. The old database is made by undoing 0002 on a new one.
func TestMigration0002Backfills(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, queue.Jobs(testJob("a"), testJob("a"), testJob("b")))
	if err != nil {
		t.Fatal(err)
	}
	sched := queue.Schedule{Name: "nightly", Expr: "@daily", Zone: "UTC", Overlap: queue.OverlapAllow,
		Job: testJob("s"), NextAt: t0, DueAt: t0}
	if _, err := s.ScheduleAdd(ctx, []queue.ScheduleAddParams{{Schedule: sched, Now: t0}}); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{t0, t0.Add(24 * time.Hour), t0.Add(48 * time.Hour)} {
		if _, err := s.ScheduleFire(ctx, queue.ScheduleFireParams{Now: at, Jitter: func() float64 { return 0 }}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 6, Worker: "w", Now: t0.Add(49 * time.Hour), LeaseUntil: t0.Add(50 * time.Hour)})
	if err != nil || len(res.Jobs) != 6 {
		t.Fatalf("claim: %v, %v", res, err)
	}
	// a: succeeded and dead; b: cancelled (below); the schedule's three
	// jobs, by ID: succeeded, dead, dead.
	outcome := map[int64]queue.State{ids[0]: queue.StateSucceeded, ids[1]: queue.StateDead, ids[2]: queue.StateSucceeded}
	var finish []queue.JobFinishParams
	var scheduled []int64
	for _, j := range res.Jobs {
		if j.Queue == "s" {
			scheduled = append(scheduled, j.ID)
		}
	}
	slices.Sort(scheduled)
	outcome[scheduled[0]], outcome[scheduled[1]], outcome[scheduled[2]] = queue.StateSucceeded, queue.StateDead, queue.StateDead
	for i, j := range res.Jobs {
		finish = append(finish, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: outcome[j.ID], Attempts: 1,
			FinishedAt: t0.Add(50*time.Hour + time.Duration(i)*time.Minute)})
	}
	if _, err := s.JobClaim(ctx, queue.JobClaimParams{Finish: finish, Worker: "w", Now: t0.Add(51 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobRetry(ctx, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{ids[2]}, Now: t0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobCancel(ctx, queue.JobCancelParams{IDs: []int64{ids[2]}, Now: t0.Add(52 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantStats, err := s.StoreStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantSched, err := s.ScheduleGet(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	db := openRaw(t, path)
	for _, undo := range []string{
		"DROP TRIGGER jobs_count_end", "DROP TRIGGER jobs_schedule_health", "DROP TABLE job_ends",
		"ALTER TABLE schedules DROP COLUMN last_success_at", "ALTER TABLE schedules DROP COLUMN failures",
		"ALTER TABLE schedules DROP COLUMN health_job_id", "ALTER TABLE schedules DROP COLUMN active_since",
		"DROP INDEX jobs_queue", // 0003 and 0004 run again after 0002
		// 0001's count trigger, which reads no counted column.
		"DROP TRIGGER jobs_count_transition", `CREATE TRIGGER jobs_count_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
	INSERT INTO job_counts (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END`,
		"ALTER TABLE jobs DROP COLUMN counted",
		"PRAGMA user_version = 1",
	} {
		if _, err := db.Exec(undo); err != nil {
			t.Fatalf("%s: %v", undo, err)
		}
	}
	db.Close()

	s, err = Open(ctx, path, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gotStats, err := s.StoreStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The retried job's first end (succeeded) is no longer in the jobs:
	// the backfill counts what the jobs say now.
	want := slices.DeleteFunc(slices.Clone(wantStats.Ended), func(c queue.EndedCount) bool { return c.Queue == "b" && c.State == queue.StateSucceeded })
	if !slices.Equal(gotStats.Ended, want) {
		t.Errorf("ended after the migration = %v, want %v", gotStats.Ended, want)
	}
	gotSched, err := s.ScheduleGet(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if !gotSched.LastSuccess.Equal(wantSched.LastSuccess) || gotSched.Failures != 2 || wantSched.Failures != 2 {
		t.Errorf("schedule health after the migration: %v, %d failures; before: %v, %d; want the same, 2 failures",
			gotSched.LastSuccess, gotSched.Failures, wantSched.LastSuccess, wantSched.Failures)
	}
	if !gotSched.ActiveSince.Equal(gotSched.CreatedAt) {
		t.Errorf("active since %v after the migration, want since it was added, %v", gotSched.ActiveSince, gotSched.CreatedAt)
	}
}
