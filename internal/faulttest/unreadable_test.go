package faulttest

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCommittedClaimUnreadablePostgres: what `jobq work` does when the
// claim's batch commits and its result cannot be read (the store's
// committedError, queue.ErrCommitUnknown; TestClaimUnreadableCommitted
// at the store). The fault is real: a row no jobq can read (another
// program wrote its permanent_exit), which the fast claim takes and
// commits before it decodes it. The worker cannot know what it claimed,
// so it does not exit on it: it warns and tries again, and the job stays
// claimed, its attempt used, until its lease expires. Then taking it
// back ends it dead, its last error saying why, in one log line, and the
// worker goes on (it used to exit 1 there, and every worker with it, at
// every expiry): it runs the next job.
func TestCommittedClaimUnreadablePostgres(t *testing.T) {
	t.Parallel()
	q := setupPostgres(t, "JOBQ_WORK_LEASE=2s")
	id := q.enqueue("true")
	conn := q.corrupt(id)
	const unread = "the change was made but its result could not be read"
	w := q.startWorker("w")
	waitFor(t, 30*time.Second, "the claim's warning", func() bool { return strings.Contains(w.output(), unread) })
	// Said as what it is, not as a busy database.
	if out := w.output(); !strings.Contains(out, "outcome of a commit unknown, trying again") {
		t.Errorf("the worker's warning does not say the commit's outcome is unknown:\n%s", out)
	}
	ctx := context.Background()
	var state string
	var attempts int
	if err := conn.QueryRow(ctx, "SELECT state, attempts FROM jobs WHERE id = $1", id).Scan(&state, &attempts); err != nil {
		t.Fatal(err)
	}
	if state != "running" || attempts != 1 {
		t.Errorf("after the claim the worker could not read: job %s, attempts %d; want running, 1 (the claim committed)", state, attempts)
	}
	var lastError string
	waitFor(t, time.Minute, "the unreadable job dead once its lease expired", func() bool {
		select {
		case <-w.done:
			t.Fatalf("the worker exited (%v) over one unreadable job\n%s", w.err, w.output())
		default:
		}
		if err := conn.QueryRow(ctx, "SELECT state, coalesce(convert_from(last_error, 'UTF8'), '') FROM jobs WHERE id = $1", id).Scan(&state, &lastError); err != nil {
			t.Fatal(err)
		}
		return state == "dead"
	})
	if !strings.Contains(lastError, "cannot be read") || !strings.Contains(lastError, "invalid exit codes") {
		t.Errorf("the unreadable job's last error %q does not say why it ended", lastError)
	}
	// The worker goes on: it runs the next job.
	next := q.enqueue(q.logLine())
	waitFor(t, 30*time.Second, "the next job run", func() bool { return len(q.executions()[next]) > 0 })
	select {
	case <-w.done:
		t.Fatalf("the worker exited (%v) over one unreadable job\n%s", w.err, w.output())
	default:
	}
	var told int
	for _, l := range strings.Split(w.output(), "\n") {
		if strings.Contains(l, "cannot be read") && strings.Contains(l, "job="+strconv.FormatInt(id, 10)+" queue=") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("%d log lines say job %d cannot be read (with its queue key), want 1\n%s", told, id, w.output())
	}
	w.stop(30 * time.Second)
	q.checkCounts()
}

// TestDrainUnreadable: `jobq drain` with a job whose row no jobq can read
// (another program wrote its permanent_exit) exits 1 with one `jobq:`
// line naming the job, never 0: drain promised the queue run empty, and
// it could not run that job. On PostgreSQL the claim commits before its
// rows are read: drain goes on with the other jobs, then says that the
// jobs of that claim may not have run (queue.UnknownClaimError); the job
// stays running until its lease expires, when the next drain takes it
// back and ends it dead. On SQLite the claim reads its rows before it
// commits: it fails whole, and drain stops at once, the job untouched.
func TestDrainUnreadable(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "SQLite", true: "PostgreSQL"}[pg]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			open := setup
			if pg {
				open = setupPostgres
			}
			q := open(t, "JOBQ_WORK_LEASE=2s")
			bad := q.enqueue("true")
			good := q.enqueue(q.logLine())
			q.corrupt(bad)
			r := q.jobq("", "drain")
			lines := jobqLines(r.stderr)
			if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "invalid exit codes") || !strings.Contains(lines[0], "job "+strconv.FormatInt(bad, 10)) {
				t.Fatalf("jobq drain: exit %d, jobq: lines %q; want 1 and one line about job %d\nstderr: %s", r.code, lines, bad, r.stderr)
			}
			if !pg {
				return
			}
			if !strings.Contains(lines[0], "left running until their lease expires") {
				t.Errorf("drain's line %q does not say what became of the job it claimed", lines[0])
			}
			if n := len(q.executions()[good]); n != 1 {
				t.Errorf("the readable job ran %d times, want 1: drain goes on past a claim it could not read", n)
			}
			// Once its lease expired, the next drain ends it dead.
			time.Sleep(2500 * time.Millisecond)
			r = q.jobq("", "drain")
			if r.code != 0 || len(jobqLines(r.stderr)) != 0 || !strings.Contains(r.stderr, "cannot be read") {
				t.Errorf("the drain after the lease expired: exit %d; want 0, no jobq: line, the job taken back said in its log\nstderr: %s", r.code, r.stderr)
			}
			q.checkCounts()
		})
	}
}

// corrupt writes, by raw SQL, a permanent_exit no jobq can read into job
// id's row, as another program might, and returns the connection (on
// PostgreSQL; nil on SQLite).
func (q *queueDir) corrupt(id int64) *pgx.Conn {
	q.t.Helper()
	const set = "UPDATE jobs SET permanent_exit = 'garbage' WHERE id = "
	if !q.pg {
		db, err := sql.Open("sqlite3", "file:"+q.db+"?_busy_timeout=10000")
		if err != nil {
			q.t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(set+"?", id); err != nil {
			q.t.Fatal(err)
		}
		return nil
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, q.db)
	if err != nil {
		q.t.Fatal(err)
	}
	q.t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, set+"$1", id); err != nil {
		q.t.Fatal(err)
	}
	return conn
}

// jobqLines are the lines of stderr that start "jobq: ".
func jobqLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "jobq: ") {
			lines = append(lines, l)
		}
	}
	return lines
}
