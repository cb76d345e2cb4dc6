package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
)

// setup opens a new store on a file in a new directory under t.TempDir()
// and closes it when the test ends.
func setup(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "jobq.db")
	s, err := Open(t.Context(), path, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store {
		path := filepath.Join(t.TempDir(), "jobq.db")
		s, err := Open(context.Background(), path, Options{BusyTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

var t0 = time.Date(2031, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

func testJob(q string) queue.JobInsertParams {
	return queue.JobInsertParams{
		Queue: q, State: queue.StatePending, Command: "true", Argv: queue.ShellArgv("true"),
		Dir: "/", RunAt: t0, MaxAttempts: 3, CreatedAt: t0,
	}
}

// openRaw opens a second, independent connection to the database file,
// as another process would.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	if _, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want fs.FileMode
	}{
		{filepath.Dir(path), 0o700 | fs.ModeDir},
		{path, 0o600},
		{path + "-wal", 0o600},
		{path + "-shm", 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if got := fi.Mode() & (fs.ModePerm | fs.ModeDir); got != tt.want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(tt.path), got, tt.want)
		}
	}
}

func TestOpenRefusesWritableByOthers(t *testing.T) {
	t.Parallel()
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "jobq.db")
		s, err := Open(t.Context(), path, Options{})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded in a directory anyone may write")
		}
		if !strings.Contains(err.Error(), "writable by others") || !strings.Contains(err.Error(), dir) {
			t.Errorf("error %q does not say which directory is writable by others", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the refused database was created anyway: %v", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "jobq.db")
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		s, err = Open(t.Context(), path, Options{})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded on a file anyone may write")
		}
		if !strings.Contains(err.Error(), "writable by others") || !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not say which file is writable by others", err)
		}
	})
	t.Run("not a file", func(t *testing.T) {
		t.Parallel()
		path := t.TempDir()
		if s, err := Open(t.Context(), path, Options{}); err == nil {
			s.Close()
			t.Fatal("Open succeeded on a directory")
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	s.Close()
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	db := openRaw(t, path)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(files)+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(t.Context(), path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database from a newer jobq")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the database is newer", err)
	}
}

// TestOpenNewFileTogether opens one new database from several connections
// at once, as workers and enqueues started together on a fresh machine do:
// turning the file to WAL mode must wait for the others, not fail with
// "database is locked" (which it did about once in thirty rounds).
func TestOpenNewFileTogether(t *testing.T) {
	t.Parallel()
	for round := range 100 {
		path := filepath.Join(t.TempDir(), "q", "jobq.db")
		var wg sync.WaitGroup
		for opener := range 6 {
			wg.Go(func() {
				s, err := Open(t.Context(), path, Options{BusyTimeout: 10 * time.Second})
				if err != nil {
					t.Errorf("round %d, opener %d: %v", round, opener, err)
					return
				}
				s.Close()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	ids, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("a"), testJob("b")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err = Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		jobs, err := s.JobList(t.Context(), queue.JobListParams{Now: t0})
		if err != nil || len(jobs) != 2 || jobs[0].ID != ids[1] || jobs[1].ID != ids[0] {
			t.Fatalf("after reopening: %d jobs, %v; want the 2 inserted", len(jobs), err)
		}
		var version int
		if err := s.writer.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version == 0 {
			t.Errorf("user_version = %d, %v", version, err)
		}
		s.Close()
	}
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	t.Run("new database", func(t *testing.T) { checkPragmas(t, s) })
	// Opening a database already up to date runs no migration: the
	// connection's own settings are all there is.
	s.Close()
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Run("reopened", func(t *testing.T) { checkPragmas(t, s) })
}

func checkPragmas(t *testing.T, s *Store) {
	for _, tt := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
	} {
		var got string
		if err := s.writer.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("writer PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	if got := s.writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	// The reader pool cannot write.
	if _, err := s.reader.Exec("DELETE FROM jobs"); err == nil {
		t.Error("the read-only pool wrote to the database")
	}
}

// TestClaimUsesReadyIndex checks the plan of the hot query: it must walk
// the partial index of ready jobs in order, never the whole table, and
// never sort; as jobq opens databases (no ANALYZE ever run), and also once
// statistics exist.
func TestClaimUsesReadyIndex(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	check := func(t *testing.T) {
		t.Helper()
		for _, tt := range []struct {
			filter string
			args   []any
		}{
			{"", []any{"w", 1, 1, 1, 1, 10}},
			{"AND queue IN (?)", []any{"w", 1, 1, 1, 1, "q1", 10}},
			{"AND queue IN (?, ?)", []any{"w", 1, 1, 1, 1, "q1", "q2", 10}},
		} {
			plan := explain(t, s, fmt.Sprintf(claimJobs, tt.filter), tt.args...)
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "INDEX jobs_ready") {
				t.Errorf("claim (%q) does not use index jobs_ready:\n%s", tt.filter, text)
			}
			for _, line := range plan {
				if strings.Contains(line, "SCAN jobs") && !strings.Contains(line, "INDEX jobs_ready") {
					t.Errorf("claim (%q) scans the whole table: %q in\n%s", tt.filter, line, text)
				}
				if strings.Contains(line, "TEMP B-TREE") {
					t.Errorf("claim (%q) sorts: %q in\n%s", tt.filter, line, text)
				}
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
	if _, err := s.JobInsert(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec("UPDATE jobs SET state = 'succeeded' WHERE id % 10 != 0"); err != nil {
		t.Fatal(err)
	}
	t.Run("mostly finished jobs", check)

	if _, err := s.writer.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	t.Run("analyzed", check)
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

func TestBusy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jobq.db")
	s, err := Open(t.Context(), path, Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")})
	if err != nil {
		t.Fatal(err)
	}

	// Another process holds the write lock.
	db := openRaw(t, path)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	_, err = s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")})
	if !errors.Is(err, queue.ErrBusy) {
		t.Errorf("JobInsert while locked: %v, want ErrBusy", err)
	}
	_, err = s.JobClaim(t.Context(), queue.JobClaimParams{Limit: 1, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)})
	if !errors.Is(err, queue.ErrBusy) {
		t.Errorf("JobClaim while locked: %v, want ErrBusy", err)
	}
	_, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{Worker: "w", LeaseUntil: t0, Jobs: []queue.JobRef{{ID: ids[0], Run: 1}}})
	if !errors.Is(err, queue.ErrBusy) {
		t.Errorf("JobHeartbeat while locked: %v, want ErrBusy", err)
	}
	// Reads go on under WAL.
	if _, err := s.JobGet(t.Context(), ids[0]); err != nil {
		t.Errorf("JobGet while locked: %v", err)
	}

	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobList(t.Context(), queue.JobListParams{Now: t0})
	if err != nil || len(jobs) != 1 {
		t.Errorf("after the busy errors: %d jobs, %v; want only the first", len(jobs), err)
	}
	if _, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")}); err != nil {
		t.Errorf("JobInsert once the lock is released: %v", err)
	}
}

type event struct {
	from, to string
	attempt  int
	worker   string
	err      string
}

func events(t *testing.T, s *Store, jobID int64) []event {
	t.Helper()
	rows, err := s.reader.Query(`SELECT coalesce(from_state, ''), to_state, attempt,
		coalesce(worker, ''), coalesce(error, '') FROM events WHERE job_id = ? ORDER BY id`, jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.from, &e.to, &e.attempt, &e.worker, &e.err); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestEvents(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, []queue.JobInsertParams{testJob("default")})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	one, zero := 1, 0
	j := claimOne(t, s, t0)
	finishOne(t, s, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: &one, Error: "exit status 1"})
	j = claimOne(t, s, t0)
	// A heartbeat and a lost finish are no transitions.
	if _, err := s.JobHeartbeat(ctx, queue.JobHeartbeatParams{Worker: "w1", LeaseUntil: t0.Add(time.Hour), Jobs: []queue.JobRef{{ID: id, Run: j.Run}}}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: []queue.JobFinishParams{{ID: id, Run: 1, State: queue.StateDead}}}); err != nil || len(res.Lost) != 1 {
		t.Fatalf("stale finish: %v, lost %v", err, res.Lost)
	}
	finishOne(t, s, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateSucceeded, Attempts: 2, FinishedAt: t0, ExitCode: &zero})

	want := []event{
		{"", "pending", 0, "", ""},
		{"pending", "running", 1, "w1", ""},
		{"running", "retrying", 1, "", "exit status 1"},
		{"retrying", "running", 2, "w1", ""},
		{"running", "succeeded", 2, "", ""},
	}
	if got := events(t, s, id); !slices.Equal(got, want) {
		t.Errorf("events =\n%v\nwant\n%v", got, want)
	}
}

// TestInsertAllOrNothing: a failure part way through a batch leaves
// nothing behind.
func TestInsertAllOrNothing(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.JobInsert(ctx, []queue.JobInsertParams{testJob("default"), testJob("default")}); err == nil {
		t.Fatal("JobInsert with a cancelled context succeeded")
	}
	// A trigger that refuses the third row makes the batch fail part way.
	if _, err := s.writer.Exec(`CREATE TEMP TRIGGER fail_third BEFORE INSERT ON jobs
		WHEN new.queue = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("a"), withUnique(testJob("b"), "k"), testJob("poison")})
	if err == nil || !strings.Contains(err.Error(), "poisoned") {
		t.Fatalf("JobInsert with a poisoned row: %v", err)
	}
	jobs, err := s.JobList(t.Context(), queue.JobListParams{Now: t0})
	if err != nil || len(jobs) != 0 {
		t.Errorf("after the failed batch: %d jobs, %v; want none", len(jobs), err)
	}
	var n int
	if err := s.reader.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the failed batch: %d events, %v; want none", n, err)
	}
}

func withUnique(p queue.JobInsertParams, key string) queue.JobInsertParams {
	p.UniqueKey = key
	return p
}

func TestEscapePath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "odd ?name#50%")
	path := filepath.Join(dir, "jobq?.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.JobInsert(t.Context(), []queue.JobInsertParams{testJob("default")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path asked for: %v", err)
	}
}

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
	if _, err := first.JobInsert(t.Context(), params); err != nil {
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
	done, err := first.JobList(t.Context(), queue.JobListParams{States: []queue.State{queue.StateSucceeded}, Now: t0})
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
