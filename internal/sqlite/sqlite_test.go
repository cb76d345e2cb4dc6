package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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
	if _, err := s.JobInsert(t.Context(), queue.Jobs(testJob("default"))); err != nil {
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
	// The -wal and -shm files hold the newest commits and the index of
	// them: whoever writes one of them writes the queue.
	for _, suffix := range []string{"-wal", "-shm"} {
		t.Run("file"+suffix, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "jobq.db")
			s, err := Open(t.Context(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.JobInsert(t.Context(), queue.Jobs(testJob("a"))); err != nil {
				t.Fatal(err)
			}
			s.Close() // the files stay (PERSIST_WAL)
			if err := os.Chmod(path+suffix, 0o666); err != nil {
				t.Fatal(err)
			}
			s, err = Open(t.Context(), path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded with a %s file anyone may write", suffix)
			}
			if !strings.Contains(err.Error(), "writable by others") || !strings.Contains(err.Error(), path+suffix) {
				t.Errorf("error %q does not say which file is writable by others", err)
			}
		})
	}
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
	ids, err := s.JobInsert(t.Context(), queue.Jobs(testJob("a"), testJob("b")))
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
		jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: t0})
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
		{"page_size", strconv.Itoa(pageSize)},
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

func TestBusy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jobq.db")
	s, err := Open(t.Context(), path, Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.JobInsert(t.Context(), queue.Jobs(testJob("default")))
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

	_, err = s.JobInsert(t.Context(), queue.Jobs(testJob("default")))
	if !errors.Is(err, queue.ErrBusy) {
		t.Errorf("JobInsert while locked: %v, want ErrBusy", err)
	} else if strings.Count(err.Error(), "locked") != 1 {
		t.Errorf("JobInsert while locked: %q, want it said once", err)
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
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: t0})
	if err != nil || len(jobs) != 1 {
		t.Errorf("after the busy errors: %d jobs, %v; want only the first", len(jobs), err)
	}
	if _, err := s.JobInsert(t.Context(), queue.Jobs(testJob("default"))); err != nil {
		t.Errorf("JobInsert once the lock is released: %v", err)
	}
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
	if _, err := s.JobInsert(t.Context(), queue.Jobs(testJob("default"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path asked for: %v", err)
	}
}
