package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

// TestStalledWriterReleasesLock: a jobq process that stops in the middle
// of a write (SIGSTOP, a partition), idle in its transaction with the
// write lock held, is ended by the server after
// idle_in_transaction_session_timeout, and the other hosts' writes go on.
func TestStalledWriterReleasesLock(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	stalled, err := Open(t.Context(), url, Options{BusyTimeout: time.Second, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	tx, err := stalled.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT pg_advisory_xact_lock($1, $2)", lockClass, writeLock); err != nil {
		t.Fatal(err)
	}
	// The stalled store does nothing more; another host writes, waiting
	// for the lock at most its busy timeout.
	other, err := Open(t.Context(), url, Options{BusyTimeout: 10 * time.Second, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.JobInsert(t.Context(), queue.Jobs(testJob("a"))); err != nil {
		t.Fatalf("JobInsert while a stalled store holds the write lock: %v", err)
	}
}

// TestSessionTimeouts: idle_in_transaction_session_timeout and the
// server's TCP keepalives are set unless the URL sets them.
func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	for _, tt := range []struct {
		url, idle string
	}{
		{url, "2500ms"},
		{url + "&idle_in_transaction_session_timeout=1min", "1min"},
	} {
		s, err := Open(t.Context(), tt.url, Options{BusyTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var idle, keepIdle string
		err = s.pool.QueryRow(t.Context(), "SELECT current_setting('idle_in_transaction_session_timeout'), current_setting('tcp_keepalives_idle')").Scan(&idle, &keepIdle)
		s.Close()
		if err != nil || idle != tt.idle || keepIdle != "15" {
			t.Errorf("%s: idle_in_transaction_session_timeout %q, tcp_keepalives_idle %q (%v); want %q, 15", tt.url, idle, keepIdle, err, tt.idle)
		}
	}
}

// TestWriteLockUnderRepeatableRead: on a database whose transactions
// default to REPEATABLE READ, the write lock still orders writers (each
// reads what the one before committed), so concurrent inserts of one
// unique key get one ID.
func TestWriteLockUnderRepeatableRead(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = ''repeatable read''', current_database()); END$$"); err != nil {
		t.Fatal(err)
	}
	// Every insert waits for the lock together, then goes one by one.
	holder, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.Background())
	if _, err := holder.Exec(t.Context(), "SELECT pg_advisory_xact_lock($1, $2)", lockClass, writeLock); err != nil {
		t.Fatal(err)
	}
	const n = 6
	ids := make(chan int64, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		s, err := Open(t.Context(), url, Options{BusyTimeout: 30 * time.Second, MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Go(func() {
			job := testJob("a")
			job.UniqueKey = "k"
			got, err := s.JobInsert(t.Context(), queue.Jobs(job))
			if err != nil {
				errs <- err
				return
			}
			ids <- got[0]
		})
	}
	waitForWaiters(t, url, n)
	if err := holder.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Errorf("JobInsert: %v", err)
	}
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("inserts of one unique key under repeatable read got IDs %v, want one", seen)
	}
}

// waitForWaiters waits until n sessions wait for the write lock.
func waitForWaiters(t *testing.T, url string, n int) {
	t.Helper()
	conn := connect(t, url)
	for {
		var waiting int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
			lockClass, writeLock).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCommitLost: a connection lost during COMMIT leaves the outcome
// unknown: queue.ErrCommitUnknown, never ErrBusy's "nothing was written";
// a lost connection before the commit is still ErrBusy. Errors other
// than a lost connection are as interpretError makes them.
func TestCommitLost(t *testing.T) {
	t.Parallel()
	for _, lost := range []error{
		io.ErrUnexpectedEOF,
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		&pgconn.PgError{Code: "08006", Message: "connection failure"},
		&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"},
	} {
		err := interpretCommit(lost)
		if !errors.Is(err, queue.ErrCommitUnknown) || errors.Is(err, queue.ErrBusy) || strings.Contains(err.Error(), "\n") {
			t.Errorf("interpretCommit(%v) = %v; want ErrCommitUnknown, not ErrBusy, one line", lost, err)
		}
		if err := interpretError(lost); !errors.Is(err, queue.ErrBusy) || errors.Is(err, queue.ErrCommitUnknown) {
			t.Errorf("interpretError(%v) = %v; want ErrBusy", lost, err)
		}
	}
	// A COMMIT that was never sent (pgconn says so) wrote nothing.
	if err := interpretCommit(neverSent{}); !errors.Is(err, queue.ErrBusy) || errors.Is(err, queue.ErrCommitUnknown) {
		t.Errorf("interpretCommit(a commit never sent) = %v; want ErrBusy", err)
	}
	serialization := &pgconn.PgError{Code: "40001"}
	if err := interpretCommit(serialization); !errors.Is(err, queue.ErrBusy) || errors.Is(err, queue.ErrCommitUnknown) {
		t.Errorf("interpretCommit(serialization failure) = %v; want ErrBusy: the server refused the commit", err)
	}
}

// TestIdleTimeoutError: the server ending a session idle in a transaction
// (SQLSTATE 25P03) is ErrBusy, nothing written, in one line that says
// so, also at a COMMIT: the transaction was rolled back, not perhaps
// committed.
func TestIdleTimeoutError(t *testing.T) {
	t.Parallel()
	idle := &pgconn.PgError{Severity: "FATAL", Code: "25P03", Message: "terminating connection due to idle-in-transaction timeout"}
	for _, err := range []error{interpretError(idle), interpretCommit(idle)} {
		if !errors.Is(err, queue.ErrBusy) || errors.Is(err, queue.ErrCommitUnknown) ||
			!strings.Contains(err.Error(), "idle_in_transaction_session_timeout") || strings.Contains(err.Error(), "\n") {
			t.Errorf("25P03 = %v; want ErrBusy, not ErrCommitUnknown, one line naming the timeout", err)
		}
	}
}

// TestTooManyConnections: a server that refuses a connection for want of
// resources (SQLSTATE class 53: too many connections) is unavailable, as
// one starting up: queue.ErrBusy (exit 75), one line naming the server.
func TestTooManyConnections(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	var db string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := db + "_nobody"
	if _, err := conn.Exec(t.Context(), "CREATE ROLE "+role+" LOGIN CONNECTION LIMIT 0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP ROLE "+role) })
	_, err := Open(t.Context(), strings.Replace(url, "://jobq@", "://"+role+":s3cret@", 1), Options{})
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("Open as a role out of connections = %v (%T), want an UnavailableError that is ErrBusy", err, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") || !strings.Contains(msg, "too many connections") {
		t.Errorf("message %q: want one line saying too many connections, without the password", msg)
	}
	t.Log(msg)
	// The same refusal met by a pool connecting anew, after Open.
	if err := interpretError(fmt.Errorf("acquire: %w", &pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "sorry, too many clients already"})); !errors.Is(err, queue.ErrBusy) || strings.Contains(err.Error(), "\n") {
		t.Errorf("interpretError(53300) = %v, want ErrBusy in one line", err)
	}
}

// neverSent is an error pgconn says was met before anything was sent.
type neverSent struct{}

func (neverSent) Error() string     { return "conn busy" }
func (neverSent) SafeToRetry() bool { return true }
