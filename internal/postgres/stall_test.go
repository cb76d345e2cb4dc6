package postgres

import (
	"context"
	"testing"
	"time"

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
	if _, err := other.JobInsert(t.Context(), []queue.JobInsertParams{testJob("a")}); err != nil {
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
