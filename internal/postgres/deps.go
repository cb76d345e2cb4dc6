package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// The rules of --after, as the sqlite store's deps.go states them and
// the conformance suite pins them (internal/queue/queuetest/deps.go):
// when a job ends, the jobs waiting for it settle in the same
// transaction, breadth first, each generation in ID order, one statement
// each, after the statement that ended it.

// ended is a job that ended, as settleDependents needs it.
type ended struct {
	id      int64
	state   queue.State
	deleted bool
}

// dependents lists the jobs waiting for a job, in ID order, from
// job_deps_depends_on.
const dependents = `SELECT d.job_id FROM job_deps d JOIN jobs j ON j.id = d.job_id
WHERE d.depends_on = $1 AND j.state = 'waiting' ORDER BY d.job_id`

// releaseJob makes a waiting job ready once no dependency of it is left
// that has not succeeded.
const releaseJob = `UPDATE jobs SET
	state = CASE WHEN run_at > $1 THEN 'scheduled' ELSE 'pending' END, updated_at = $1
WHERE id = $2 AND state = 'waiting' AND NOT EXISTS (
	SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
	WHERE d.job_id = jobs.id AND p.state != 'succeeded')`

// cancelDependent cancels a waiting job whose dependency failed.
const cancelDependent = `UPDATE jobs SET state = 'cancelled', last_error = $1,
	finished_at = $2, updated_at = $2
WHERE id = $3 AND state = 'waiting'`

// settleDependents settles the jobs waiting for the jobs of causes, which
// ended at now (Unix ms), and so on down the chains, and returns the IDs
// of the jobs it cancelled; see the sqlite store's.
func settleDependents(ctx context.Context, tx dbtx, now int64, causes []ended) (cancelled []int64, err error) {
	type settle struct {
		id    int64
		cause ended
	}
	for len(causes) > 0 {
		var gen []settle
		for _, c := range causes {
			if c.state == queue.StateSucceeded && c.deleted {
				if _, err := tx.Exec(ctx, "DELETE FROM job_deps WHERE depends_on = $1", c.id); err != nil {
					return nil, interpretError(fmt.Errorf("forget job %d: %w", c.id, err))
				}
				continue
			}
			ids, err := queryIDs(ctx, tx, dependents, c.id)
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
				query, args = cancelDependent, []any{[]byte(fmt.Sprintf("dependency %d was deleted", c.id)), now, g.id}
			default:
				query, args = cancelDependent, []any{[]byte(fmt.Sprintf("dependency %d ended %s", c.id, c.state)), now, g.id}
			}
			tag, err := tx.Exec(ctx, query, args...)
			if err != nil {
				return nil, interpretError(fmt.Errorf("settle job %d: %w", g.id, err))
			}
			if tag.RowsAffected() > 0 && query == cancelDependent {
				next = append(next, ended{id: g.id, state: queue.StateCancelled})
				cancelled = append(cancelled, g.id)
			}
		}
		causes = next
	}
	return cancelled, nil
}

// insertDependencies records the dependencies of the inserted jobs, and
// cancels those whose dependencies already failed.
func insertDependencies(ctx context.Context, tx pgx.Tx, deps []queue.InsertDeps, ids []int64) error {
	for _, d := range deps {
		for _, dep := range d.After {
			if _, err := tx.Exec(ctx, "INSERT INTO job_deps (job_id, depends_on) VALUES ($1, $2) ON CONFLICT DO NOTHING", ids[d.Index], dep); err != nil {
				return interpretError(fmt.Errorf("insert dependency: %w", err))
			}
		}
		if d.Failed != "" {
			if _, err := tx.Exec(ctx, cancelDependent, []byte(d.Failed), ms(d.CreatedAt), ids[d.Index]); err != nil {
				return interpretError(err)
			}
		}
	}
	return nil
}
