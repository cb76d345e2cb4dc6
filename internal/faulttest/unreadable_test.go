package faulttest

import (
	"context"
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
// claimed, its attempt used, until its lease expires. Then taking it back
// reads the row again and fails: the worker exits 1 with one `jobq:`
// line, as for any failure of its database, never 0 or 75 (busy).
func TestCommittedClaimUnreadablePostgres(t *testing.T) {
	t.Parallel()
	q := setupPostgres(t, "JOBQ_WORK_LEASE=2s")
	id := q.enqueue("true")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, q.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE jobs SET permanent_exit = 'garbage' WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	const unread = "the change was made but its result could not be read"
	w := q.startWorker("w")
	waitFor(t, 30*time.Second, "the claim's warning", func() bool { return strings.Contains(w.output(), unread) })
	// Said as what it is, not as a busy database.
	if out := w.output(); !strings.Contains(out, "outcome of a commit unknown, trying again") {
		t.Errorf("the worker's warning does not say the commit's outcome is unknown:\n%s", out)
	}
	var state string
	var attempts int
	if err := conn.QueryRow(ctx, "SELECT state, attempts FROM jobs WHERE id = $1", id).Scan(&state, &attempts); err != nil {
		t.Fatal(err)
	}
	if state != "running" || attempts != 1 {
		t.Errorf("after the claim the worker could not read: job %s, attempts %d; want running, 1 (the claim committed)", state, attempts)
	}
	if code := w.wait(time.Minute); code != 1 {
		t.Errorf("worker exit status %d once the lease expired, want 1\n%s", code, w.output())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(w.output()), "\n") {
		if strings.HasPrefix(l, "jobq: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "find expired leases") || !strings.Contains(lines[0], "invalid exit codes") {
		t.Errorf("jobq: lines %q, want one, about the expired lease's unreadable job", lines)
	}
}
