package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jobq/jobq/internal/queue"
)

// The rules of --after live here, in Go rather than in triggers, so that
// another store can share them and the conformance suite can pin them
// (internal/queue/queuetest/deps.go). A job inserted with --after waits
// until every job it names has succeeded. When a job ends, the jobs
// waiting for it settle in the same transaction:
//
//   - it succeeded: a waiting job all of whose dependencies have succeeded
//     becomes pending, or scheduled while its run_at has not come;
//   - it ended dead or cancelled: the jobs waiting for it are cancelled,
//     "dependency 3 ended dead";
//   - it was deleted before it succeeded (jobq purge): they are cancelled,
//     "dependency 3 was deleted", rather than left waiting for ever;
//   - it was deleted once it had succeeded (retention, purge): its
//     dependents were released when it succeeded, and the job_deps rows
//     naming it go with it. So a job_deps row that names a job no longer
//     there always means "deleted before it succeeded", which is how
//     JobRetry reads it (a retry of such a job is refused).
//
// A cancelled job ends in turn, so a cancellation runs down a chain.
// Retrying a job does not end it, and a new job has no one waiting for it:
// JobRetry and JobInsert settle a job's own state from its dependencies
// (queue.InsertBatch, deciding by the state of each dependency as
// insertJobs reads it, and JobRetry's own check), not its dependents.
//
// The order of events is explicit: every statement that ends a job logs
// its transition (the trigger jobs_transition) before settleDependents
// runs, and the dependents settle breadth first, each generation sorted
// by ID, one statement each. So for A <- B <- C, A going dead logs A's
// end, then B's cancellation, then C's; the conformance suite pins this
// for every way A can end (AfterEventOrder: success, dead, lease expired,
// cancel, cancel while running, delete) and the order of siblings
// (AfterSiblingOrder).

// ended is a job that ended, as settleDependents needs it: its state, and
// whether it was deleted (then the state is the one it was deleted in).
type ended struct {
	id      int64
	state   queue.State
	deleted bool
}

// dependents lists the jobs waiting for a job, in ID order. It starts
// from job_deps, through job_deps_depends_on (whose entries hold job_id
// after depends_on, so the order costs no sort), and reads the jobs of
// those rows only: left to choose, SQLite starts from jobs_state and reads
// every waiting job whenever any job ends, which cost seconds next to a
// large backlog of waiting jobs. CROSS JOIN keeps the order of the tables
// as written; TestDependentsPlan checks the plan. The job is matched by
// IN (?), not = ?: with = ? and the ORDER BY, SQLite compiled the kept
// statement again at every finish (a value bound to it expired it;
// TestKeptStatementsStayCompiled).
const dependents = `SELECT d.job_id FROM job_deps d CROSS JOIN jobs j ON j.id = d.job_id
WHERE d.depends_on IN (?) AND j.state = 'waiting' ORDER BY d.job_id`

// releaseJob makes a waiting job ready once no dependency of it is left
// that has not succeeded. The join leaves out a row naming a job no longer
// there: it cannot be one deleted before it succeeded, which cancelled the
// job, nor one deleted after, whose rows went with it.
const releaseJob = `UPDATE jobs SET
	state = CASE WHEN run_at > ?1 THEN 'scheduled' ELSE 'pending' END, updated_at = ?1
WHERE id = ?2 AND state = 'waiting' AND NOT EXISTS (
	SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
	WHERE d.job_id = jobs.id AND p.state != 'succeeded')`

// cancelDependent cancels a waiting job whose dependency failed (or, at
// insert, had failed already).
const cancelDependent = `UPDATE jobs SET state = 'cancelled', last_error = ?1,
	finished_at = ?2, updated_at = ?2
WHERE id = ?3 AND state = 'waiting'`

// settleDependents settles the jobs waiting for the jobs of causes, which
// ended at now (Unix ms), and so on down the chains; see above. Call it
// after every statement that ends or deletes a job, in its transaction.
// It returns the IDs of the jobs it cancelled (all of them were waiting).
//
// Each generation, the jobs waiting for any job of the one before, is
// settled in ID order, one statement each (so that the log is in that
// order); a job waiting for two of them settles once, by the one with the
// lowest ID.
func (s *Store) settleDependents(ctx context.Context, tx *sql.Tx, now int64, causes []ended) (cancelled []int64, err error) {
	type settle struct {
		id    int64
		cause ended
	}
	// A cancel can run down thousands of jobs: take each statement once,
	// not once a job. Those kept (stmt.go) are not prepared again at all.
	stmts := map[string]*sql.Stmt{}
	stmt := func(query string) (*sql.Stmt, error) {
		if st, ok := stmts[query]; ok {
			return st, nil
		}
		st, err := s.stmt(ctx, tx, query)
		if err != nil {
			return nil, err
		}
		stmts[query] = st
		return st, nil
	}
	for len(causes) > 0 {
		var gen []settle
		for _, c := range causes {
			if c.state == queue.StateSucceeded && c.deleted {
				// Its dependents were released when it succeeded; left,
				// its rows would read as a dependency deleted before.
				if _, err := tx.ExecContext(ctx, "DELETE FROM job_deps WHERE depends_on = ?", c.id); err != nil {
					return nil, interpretError(fmt.Errorf("forget job %d: %w", c.id, err))
				}
				continue
			}
			st, err := stmt(dependents)
			if err != nil {
				return nil, err
			}
			ids, err := stmtIDs(ctx, st, c.id)
			if err != nil {
				return nil, fmt.Errorf("dependents of job %d: %w", c.id, err)
			}
			for _, id := range ids {
				gen = append(gen, settle{id, c})
			}
		}
		slices.SortFunc(gen, func(a, b settle) int {
			return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.cause.id, b.cause.id))
		})
		gen = slices.CompactFunc(gen, func(a, b settle) bool { return a.id == b.id })
		var next []ended
		for _, g := range gen {
			var query string
			var args []any
			switch c := g.cause; {
			case c.state == queue.StateSucceeded:
				query, args = releaseJob, []any{now, g.id}
			case c.deleted:
				query, args = cancelDependent, []any{fmt.Sprintf("dependency %d was deleted", c.id), now, g.id}
			default:
				query, args = cancelDependent, []any{fmt.Sprintf("dependency %d ended %s", c.id, c.state), now, g.id}
			}
			st, err := stmt(query)
			if err != nil {
				return nil, err
			}
			r, err := st.ExecContext(ctx, args...)
			if err != nil {
				return nil, interpretError(fmt.Errorf("settle job %d: %w", g.id, err))
			}
			if n, _ := r.RowsAffected(); n > 0 && query == cancelDependent {
				next = append(next, ended{id: g.id, state: queue.StateCancelled})
				cancelled = append(cancelled, g.id)
			}
		}
		causes = next
	}
	return cancelled, nil
}

// stmtIDs runs a prepared query of IDs.
func stmtIDs(ctx context.Context, st *sql.Stmt, args ...any) ([]int64, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, interpretError(rows.Err())
}

// insertDependencies records the dependencies of the inserted jobs, and
// cancels those whose dependencies already failed.
func insertDependencies(ctx context.Context, tx *sql.Tx, deps []queue.InsertDeps, ids []int64) error {
	for _, d := range deps {
		for _, dep := range d.After {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO job_deps (job_id, depends_on) VALUES (?, ?)", ids[d.Index], dep); err != nil {
				return interpretError(fmt.Errorf("insert dependency: %w", err))
			}
		}
		if d.Failed != "" {
			now := ms(d.CreatedAt)
			if _, err := tx.ExecContext(ctx, cancelDependent, d.Failed, now, ids[d.Index]); err != nil {
				return interpretError(err)
			}
		}
	}
	return nil
}
