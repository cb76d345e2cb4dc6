package cmd

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// TestCopyToPostgres: jobq copy makes the PostgreSQL database read as the
// SQLite one did through the Store seam (jobs with their IDs, history,
// output and events, schedules with their health, queue settings, the
// ends counted for jobq metrics, a deleted job's included), and job IDs
// go on after the highest SQLite ever gave, a deleted job's included.
func TestCopyToPostgres(t *testing.T) {
	e := setup(t)
	url := pgtest.NewDatabase(t)
	for _, args := range [][]string{
		{"enqueue", "-q", "mail", "-p", "3", "--env", "A=b", "--timeout", "1m", "echo one"},
		{"enqueue", "--max-attempts", "1", "--", "sh", "-c", "echo two >&2; exit 3"},
		{"enqueue", "--after", "1", "--unique", "k", "echo three"},
		{"enqueue", "--in", "1h", "echo later"},
		{"schedule", "add", "nightly", "--cron", "0 3 * * *", "--tz", "Europe/Paris", "echo nightly"},
		{"schedule", "run", "nightly"}, // job 5: its success is the schedule's health
		{"enqueue", "echo gone"},
		{"cancel", "6"},
		{"queue", "limit", "mail", "--concurrency", "2", "--rate", "5/1m"},
		{"queue", "pause", "idle"},
	} {
		if code := e.run(args...); code != 0 {
			t.Fatalf("jobq %s: exit %d\n%s", strings.Join(args, " "), code, e.stderr)
		}
	}
	// Job 6, the highest ID, deleted (purge would leave it: the test's
	// clock stands still, and purge takes jobs ended before now).
	if s, err := sqlite.Open(context.Background(), e.env["JOBQ_DB"], sqlite.Options{}); err != nil {
		t.Fatal(err)
	} else if n, err := s.JobDelete(context.Background(), queue.JobFilter{IDs: []int64{6}, Now: testNow}); n != 1 || err != nil {
		t.Fatalf("delete job 6: %d, %v", n, err)
	} else {
		s.Close()
	}
	e.run("drain") // 1 succeeds, releasing 3; 2 fails: history, output, errors
	if j := e.job(t, 2); j.Attempts != 1 || j.LastError == "" {
		t.Fatalf("job 2 after drain: %+v; want a failed attempt", j)
	}
	if j := e.job(t, 5); j.State != queue.StateSucceeded {
		t.Fatalf("job 5 (schedule nightly's) after drain: %+v; want it succeeded", j)
	}
	if code := e.run("copy", "--to", url); code != 0 {
		t.Fatalf("copy: exit %d\n%s", code, e.stderr)
	}
	if !strings.Contains(e.stderr.String(), "jobq: copied ") || strings.Count(e.stderr.String(), "\n") != 1 {
		t.Errorf("copy said %q, want one line", e.stderr)
	}

	ctx := context.Background()
	from, err := sqlite.Open(ctx, e.env["JOBQ_DB"], sqlite.Options{BusyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	same := func(what string, get func(s queue.Store) (any, error)) {
		t.Helper()
		a, errA := get(from)
		b, errB := get(to)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\nSQLite     %+v (%v)\nPostgreSQL %+v (%v)", what, a, errA, b, errB)
		}
	}
	filter := queue.JobFilter{Now: testNow}
	jobs, err := from.JobList(ctx, filter)
	if err != nil || len(jobs) < 3 {
		t.Fatalf("SQLite jobs: %d, %v", len(jobs), err)
	}
	same("jobs", func(s queue.Store) (any, error) { return s.JobList(ctx, filter) })
	for _, j := range jobs {
		same("attempts of job "+strconv.FormatInt(j.ID, 10), func(s queue.Store) (any, error) { return s.AttemptList(ctx, j.ID) })
	}
	same("events", func(s queue.Store) (any, error) { return s.EventList(ctx, queue.EventListParams{}) })
	same("schedules", func(s queue.Store) (any, error) { return s.ScheduleList(ctx) })
	same("ends", func(s queue.Store) (any, error) {
		st, err := s.StoreStats(ctx)
		if err != nil {
			return nil, err
		}
		return st.Ended, nil
	})
	same("stats", func(s queue.Store) (any, error) {
		return s.QueueStats(ctx, queue.QueueStatsParams{Now: testNow, RecentSince: testNow.Add(-time.Hour)})
	})

	// IDs go on from SQLite's highest, though that job was deleted.
	if _, err := from.JobGet(ctx, 6); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("job 6 on SQLite: %v, want it purged", err)
	}
	var highest int64
	for _, j := range jobs {
		highest = max(highest, j.ID)
	}
	ids, err := to.JobInsert(ctx, queue.Jobs(queue.JobInsertParams{Queue: "default", State: queue.StatePending,
		Command: "true", Argv: queue.ShellArgv("true"), Dir: "/", RunAt: testNow, MaxAttempts: 1, CreatedAt: testNow}))
	if err != nil || ids[0] != 7 {
		t.Errorf("first job on PostgreSQL: ID %v (%v), want 7: SQLite gave 1 to 6 (the highest still there is %d)", ids, err, highest)
	}

	// A database in use is not copied into.
	if code := e.run("copy", "--to", url); code != 1 || !strings.Contains(e.stderr.String(), "already has jobs") {
		t.Errorf("copy into a used database: exit %d, %q; want 1 and why", code, e.stderr)
	}
}

// TestCopyNamesTheJob: a job PostgreSQL's text cannot hold (a unique key
// with a NUL byte, which SQLite keeps; an older jobq let it in) fails
// the copy in one line that names the job, and nothing is copied.
func TestCopyNamesTheJob(t *testing.T) {
	e := setup(t)
	url := pgtest.NewDatabase(t)
	if code := e.run("enqueue", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d\n%s", code, e.stderr)
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, e.env["JOBQ_DB"], sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	job := queue.JobInsertParams{Queue: "default", State: queue.StatePending, Command: "true", Argv: queue.ShellArgv("true"),
		Dir: "/", RunAt: testNow, MaxAttempts: 1, CreatedAt: testNow, UniqueKey: "a\x00b"}
	if _, err := s.JobInsert(ctx, queue.Jobs(job)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	e.stderr.Reset()
	if code := e.run("copy", "--to", url); code != 1 {
		t.Errorf("copy: exit %d, want 1", code)
	}
	if got := e.stderr.String(); !strings.Contains(got, "job 2") || strings.Count(got, "\n") != 1 {
		t.Errorf("copy said %q, want one line naming job 2", got)
	}
	to, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	if n, err := to.JobCount(ctx, queue.JobFilter{Now: testNow}); n != 0 || err != nil {
		t.Errorf("after the failed copy: %d jobs (%v), want none", n, err)
	}
}
