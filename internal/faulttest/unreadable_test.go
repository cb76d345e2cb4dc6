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

// storeCase is a store a fault test of bad data runs on; a PostgreSQL
// queue limited (`queue limit`) goes the step claim path.
type storeCase struct {
	name        string
	pg, limited bool
}

var stores = []storeCase{{"SQLite", false, false}, {"PostgreSQL", true, false}, {"PostgreSQLLimited", true, true}}

// open makes the queue of st for t.
func (st storeCase) open(t *testing.T) *queueDir {
	open := setup
	if st.pg {
		open = setupPostgres
	}
	q := open(t)
	if st.limited {
		q.mustJobq("", "queue", "limit", "default", "--concurrency", "5")
	}
	return q
}

// eachStore runs f on a queue of each of stores, in parallel subtests.
func eachStore(t *testing.T, f func(t *testing.T, st storeCase, q *queueDir)) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			f(t, st, st.open(t))
		})
	}
}

// TestWorkerGoesOnPastUnreadable: `jobq work` meets a ready job whose
// row no jobq can read (another program wrote its permanent_exit): the
// claim ends it dead, its last error saying why, the worker logs it
// once, as an error, and goes on: it runs another queue's job and does
// not exit. It used to exit 1 at every start on SQLite, and on
// PostgreSQL when the queue is limited (the step claim path).
func TestWorkerGoesOnPastUnreadable(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeCase, q *queueDir) {
		bad := q.enqueue("true")
		good := q.enqueue(q.logLine(), "-q", "other")
		q.corrupt(bad)
		w := q.startWorker("w")
		waitFor(t, 30*time.Second, "the other queue's job run", func() bool {
			select {
			case <-w.done:
				t.Fatalf("the worker exited (%v) over one unreadable job\n%s", w.err, w.output())
			default:
			}
			return len(q.executions()[good]) > 0
		})
		// The worker goes on: it runs the next job too.
		next := q.enqueue(q.logLine())
		waitFor(t, 30*time.Second, "the next job run", func() bool { return len(q.executions()[next]) > 0 })
		state, lastError := q.stateOf(bad)
		if state != "dead" || !strings.Contains(lastError, "cannot be read") || !strings.Contains(lastError, "invalid exit codes") {
			t.Errorf("the unreadable job is %s, last error %q; want dead, saying why", state, lastError)
		}
		var told int
		for _, l := range strings.Split(w.output(), "\n") {
			if strings.Contains(l, "cannot be read") && strings.Contains(l, "job="+strconv.FormatInt(bad, 10)+" ") {
				told++
				if !strings.Contains(l, "level=ERROR") {
					t.Errorf("the unreadable job is logged %q, not as an error", l)
				}
			}
		}
		if told != 1 {
			t.Errorf("%d log lines say job %d cannot be read, want 1\n%s", told, bad, w.output())
		}
		w.stop(30 * time.Second)
		if st.pg {
			q.checkCounts()
		}
	})
}

// TestDrainUnreadable: `jobq drain -c 2` with a job whose row no jobq can
// read, claimed with a readable one: the claim ends the unreadable job
// dead, drain runs the other (once: with --max-attempts 1 it used to go
// dead unrun on PostgreSQL, its attempt spent by that claim), and exits
// 1 with one `jobq:` line, as for any job gone dead.
func TestDrainUnreadable(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeCase, q *queueDir) {
		bad := q.enqueue("true")
		good := q.enqueue(q.logLine(), "--max-attempts", "1")
		q.corrupt(bad)
		r := q.jobq("", "drain", "-c", "2")
		lines := jobqLines(r.stderr)
		if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "1 job went dead") {
			t.Fatalf("jobq drain: exit %d, jobq: lines %q; want 1 and one line saying a job went dead\nstderr: %s", r.code, lines, r.stderr)
		}
		if !strings.Contains(r.stderr, "cannot be read") {
			t.Errorf("drain's log does not say job %d cannot be read:\n%s", bad, r.stderr)
		}
		if n := len(q.executions()[good]); n != 1 {
			t.Errorf("the readable job ran %d times, want 1", n)
		}
		if state, _ := q.stateOf(bad); state != "dead" {
			t.Errorf("the unreadable job is %s, want dead", state)
		}
		// The operator sees it: list and show print what can be read.
		id := strconv.FormatInt(bad, 10)
		if r := q.jobq("", "list", "--state", "dead"); r.code != 0 || !strings.Contains(r.stdout, "cannot be read") || !strings.Contains(r.stdout, id) {
			t.Errorf("jobq list --state dead: exit %d, stdout %q; want the unreadable job %d listed\nstderr: %s", r.code, r.stdout, bad, r.stderr)
		}
		if r := q.jobq("", "show", id); r.code != 0 || !strings.Contains(r.stdout, "Cannot be read:") || !strings.Contains(r.stdout, "invalid exit codes") {
			t.Errorf("jobq show %d: exit %d, stdout %q; want why it cannot be read\nstderr: %s", bad, r.code, r.stdout, r.stderr)
		}
		// It cannot be retried as it is (it would end dead again): it
		// can be purged.
		if r := q.jobq("", "retry", id); r.code != 1 || len(jobqLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "job "+id) {
			t.Errorf("jobq retry %d: exit %d, stderr %q; want 1 and one line naming it", bad, r.code, r.stderr)
		}
		if r := q.jobq("", "purge", "--state", "dead", "--yes"); r.code != 0 {
			t.Errorf("jobq purge --state dead: exit %d\nstderr: %s", r.code, r.stderr)
		}
		if st.pg {
			q.checkCounts()
		}
	})
}

// TestDrainPastOnlyUnreadable: a claim that took nothing but unreadable
// jobs (one slot, the bad job first) ends them dead and drain claims
// again: the readable jobs behind run. Drain used to return after that
// claim, as if the queue were empty, leaving them pending.
func TestDrainPastOnlyUnreadable(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeCase, q *queueDir) {
		bad := q.enqueue("true")
		good := q.enqueue(q.logLine())
		q.corrupt(bad)
		r := q.jobq("", "drain", "-c", "1")
		if lines := jobqLines(r.stderr); r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "1 job went dead") {
			t.Fatalf("jobq drain -c 1: exit %d, jobq: lines %q; want 1 and one line saying a job went dead\nstderr: %s", r.code, lines, r.stderr)
		}
		if n := len(q.executions()[good]); n != 1 {
			state, _ := q.stateOf(good)
			t.Errorf("the readable job behind the unreadable one ran %d times (state %s), want 1", n, state)
		}
	})
}

// TestDrainDeadAndUnknown: drain after a job gone dead and a claim whose
// outcome it cannot know says both in one `jobq:` line, exit 1. The
// claim's outcome is made unknown for real: PostgreSQL's fast claim
// commits before it reads its rows, and a trigger (another program's)
// refuses the transaction that would then end the unreadable job dead.
func TestDrainDeadAndUnknown(t *testing.T) {
	t.Parallel()
	q := setupPostgres(t)
	bad := q.enqueue("true")
	q.enqueue("exit 3", "--max-attempts", "1")
	conn := q.corrupt(bad)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE FUNCTION refuse_end() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`,
		`CREATE TRIGGER refuse_end BEFORE UPDATE ON jobs FOR EACH ROW
			WHEN (NEW.id = ` + strconv.FormatInt(bad, 10) + ` AND NEW.state = 'dead') EXECUTE FUNCTION refuse_end()`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	r := q.jobq("", "drain")
	lines := jobqLines(r.stderr)
	if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "1 job went dead") ||
		!strings.Contains(lines[0], "a claim may have taken jobs it could not run") || !strings.Contains(lines[0], "refused by the test") {
		t.Errorf("jobq drain: exit %d, jobq: lines %q; want 1 and one line naming the dead job and the unknown claim\nstderr: %s", r.code, lines, r.stderr)
	}
}

// stateOf reads, by raw SQL, the state and last error of job id, whose
// row jobq may not be able to read.
func (q *queueDir) stateOf(id int64) (state, lastError string) {
	q.t.Helper()
	if !q.pg {
		db, err := sql.Open("sqlite3", "file:"+q.db+"?_busy_timeout=10000&mode=ro")
		if err != nil {
			q.t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("SELECT state, coalesce(last_error, '') FROM jobs WHERE id = ?", id).Scan(&state, &lastError); err != nil {
			q.t.Fatal(err)
		}
		return state, lastError
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, q.db)
	if err != nil {
		q.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT state, coalesce(convert_from(last_error, 'UTF8'), '') FROM jobs WHERE id = $1", id).Scan(&state, &lastError); err != nil {
		q.t.Fatal(err)
	}
	return state, lastError
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
