package faulttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/postgres/pgtest"
)

// TestConnectionCutPostgres cuts every connection of the workers to
// PostgreSQL, again and again, while they run jobs: a worker connects
// anew and goes on, and every job ends succeeded.
func TestConnectionCutPostgres(t *testing.T) {
	q := setupPostgres(t, "JOBQ_WORK_LEASE=3s")
	disrupted(t, q, func(k int) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, q.db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid != pg_backend_pid()
			AND application_name LIKE 'jobq work%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		t.Logf("cut %d: %d connections of workers", k+1, n)
	})
}

// TestServerRestartPostgres restarts the PostgreSQL server under load
// (a fast shutdown, a second down, then up again): the workers wait for
// it, and every job ends succeeded.
func TestServerRestartPostgres(t *testing.T) {
	q := setupPostgres(t, "JOBQ_WORK_LEASE=3s")
	if ok, _ := pgtest.Available(); ok && !pgtest.CanRestart() {
		t.Skip("the tests use a server of their own (" + pgtest.EnvURL + "): not restarted")
	}
	disrupted(t, q, func(k int) {
		if err := pgtest.Restart(time.Second); err != nil {
			t.Fatalf("restart %d: %v", k+1, err)
		}
	})
}

// disrupted runs jobs on two workers of two jobs each and disrupts them
// three times while they do; the workers must ride it out, and every job
// end succeeded, having run to its end once (an attempt cut short by a
// disruption may have started before: its lease then expired).
func disrupted(t *testing.T, q *queueDir, disrupt func(k int)) {
	const (
		jobs     = 60
		workers  = 2
		disrupts = 3
	)
	var batch strings.Builder
	for i := range jobs {
		fmt.Fprintf(&batch, ": %s; %s; sleep 0.%02d\n", q.marker, q.logLine(), 10+i%20)
	}
	ids := parseIDs(t, q.mustJobq(batch.String(), "enqueue", "--batch", "--max-attempts", "20", "--backoff", "0"))
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = q.startWorker(fmt.Sprintf("w%d", i), "-c", "2")
	}
	for k := range disrupts {
		waitFor(t, time.Minute, fmt.Sprintf("disruption %d: jobs started", k+1), func() bool {
			return len(q.executions()) >= (k+1)*jobs/(disrupts+1)
		})
		disrupt(k)
	}
	waitFor(t, 3*time.Minute, "every job final", func() bool {
		r, err := q.run("", "list", "--state", "pending,scheduled,waiting,running,retrying", "--ids")
		return err == nil && r.code == 0 && strings.TrimSpace(r.stdout) == ""
	})
	for _, w := range ws {
		select {
		case <-w.done:
			t.Errorf("worker %s exited (%v) during the disruptions", w.name, w.err)
		default:
		}
		w.stop(30 * time.Second)
	}
	runs := q.executions()
	for _, id := range ids {
		j := q.show(id)
		if j.State != "succeeded" {
			t.Errorf("job %d ended %s, want succeeded; history %v", id, j.State, j.History)
		}
		if len(runs[id]) == 0 {
			t.Errorf("job %d never ran", id)
		}
	}
	q.checkIntegrity()
}
