package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jobq/jobq/internal/queue"
)

// QueueStats sums up every queue; see queue.Store. Counts come from
// job_counts, the rest from the indexes the schema keeps for it, so
// that its cost grows with the number of queues, not of jobs.
func (s *Store) QueueStats(ctx context.Context, params queue.QueueStatsParams) ([]queue.QueueStats, error) {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	var tally queue.StatsTally
	settings, err := queueSettings(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, qs := range settings {
		tally.Settings(qs)
	}
	err = eachRow(ctx, tx, "SELECT queue, state, n FROM job_counts WHERE n > 0", nil, func(rows *sql.Rows) error {
		var name, state string
		var n int
		if err := rows.Scan(&name, &state, &n); err != nil {
			return err
		}
		tally.Count(name, queue.State(state), n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A queue's scheduled and retrying jobs whose time has come, and its
	// oldest ready job, through jobs_queue_ready: the least run_at of
	// each state is the head of its range, and the due ones are counted
	// by a range that ends at now.
	for _, r := range tally.Ready() {
		var n int
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, readyStatsQuery(r.State), r.Queue, ms(params.Now)).Scan(&n, &oldest); err != nil {
			return nil, interpretError(err)
		}
		tally.Due(r, n, fromNullMS(oldest))
	}
	err = eachRow(ctx, tx, recentEnded, []any{ms(params.RecentSince)}, func(rows *sql.Rows) error {
		var name, state string
		var n int
		if err := rows.Scan(&name, &state, &n); err != nil {
			return err
		}
		tally.Recent(name, queue.State(state), n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tally.Stats(), nil
}

// readyStatsQuery counts the jobs of a queue in state st whose time has
// come, and finds the least run_at among them, reading only the head of
// their range of jobs_queue_ready (TestStatsQueryPlans). The planner
// takes a partial index only for a query that repeats the index's own
// condition, and a literal state to search by.
func readyStatsQuery(st queue.State) string {
	count := "count(*)"
	if st == queue.StatePending {
		count = "0" // all ready: only the head of the range is read
	}
	return `SELECT ` + count + `, min(run_at) FROM jobs INDEXED BY jobs_queue_ready
		WHERE ` + readyCondition + `
			AND queue = ? AND state = '` + string(st) + `' AND run_at <= ?`
}

// recentEnded counts the jobs that ended in queue.RecentStates since a time,
// per queue and state, from jobs_finished alone (queue is in the index: no
// table row is read). It sorts, though: the index is in finished_at order
// within a state, and GROUP BY queue puts every job of the window (an hour
// for jobq stats) through a temporary B-tree. An index led by queue would
// spare that sort but cost every finish a write, and retention needs
// jobs_finished as it is; TestStatsQueryPlans pins that this GROUP BY is
// the only sort.
var recentEnded = `SELECT queue, state, count(*) FROM jobs INDEXED BY jobs_finished
WHERE state IN (` + sqlStates(queue.RecentStates) + `) AND finished_at >= ?
GROUP BY queue, state`

// StoreStats sums up the whole store; see queue.Store. The ends come from
// job_ends, which a trigger keeps (migration 0002); the size is the
// database file's and its WAL's, as on disk.
func (s *Store) StoreStats(ctx context.Context) (*queue.StoreStats, error) {
	var out queue.StoreStats
	err := eachRow(ctx, s.reader, "SELECT queue, state, n FROM job_ends ORDER BY queue, state", nil, func(rows *sql.Rows) error {
		var c queue.EndedCount
		err := rows.Scan(&c.Queue, &c.State, &c.N)
		out.Ended = append(out.Ended, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, name := range []string{s.path, s.path + "-wal"} {
		fi, err := os.Stat(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("database size: %w", err)
		}
		if err == nil {
			out.SizeBytes += fi.Size()
		}
	}
	return &out, nil
}

// Ping reads the database and checks that the file at the store's path is
// still the one it opened: a database removed or replaced under a running
// worker (rm, a backup restored by mv) leaves it reading and writing the
// old file, which no other jobq sees, and every read of it succeeding.
func (s *Store) Ping(ctx context.Context) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if !os.SameFile(fi, s.file) {
		return fmt.Errorf("database file %s was replaced since jobq opened it: restart jobq", s.path)
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("read database: %w", interpretError(err))
	}
	return nil
}
