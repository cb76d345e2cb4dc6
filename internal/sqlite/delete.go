package sqlite

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// deleteBatch bounds the IDs one statement deletes the events of.
const deleteBatch = 1000

// deleteJobs is the statement that deletes filter's jobs, never running
// ones, oldest first, and its arguments.
//
// Deleting final jobs by age, as retention does, goes through
// jobs_finished (state, finished_at, ...), oldest first by finished_at
// alone, the order the index keeps for one state (ties in index order),
// so that taking the oldest few costs no sort of every job past its
// retention. Several states are one range each, merged (UNION ALL with an
// ORDER BY is a merge of ordered arms in SQLite), again without a sort;
// TestWorkQueryPlans checks both.
func deleteJobs(filter queue.JobFilter) (string, []any) {
	limit := filter.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	if !onlyFinal(filter.States) || filter.Before.IsZero() {
		where, args := jobFilter(filter)
		return `DELETE FROM jobs WHERE id IN (
			SELECT id FROM jobs WHERE ` + where + ` AND state != 'running'
			ORDER BY id LIMIT ?)
			RETURNING id, state`, append(args, limit)
	}
	var arms []string
	var args []any
	for _, st := range slices.Compact(slices.Sorted(slices.Values(filter.States))) {
		f := filter
		f.States = []queue.State{st}
		where, a := jobFilter(f)
		arms = append(arms, "SELECT id, finished_at FROM jobs INDEXED BY jobs_finished WHERE "+where)
		args = append(args, a...)
	}
	return `DELETE FROM jobs WHERE id IN (
		SELECT id FROM (` + strings.Join(arms, " UNION ALL ") + ` ORDER BY finished_at LIMIT ?))
		RETURNING id, state`, append(args, limit)
}

// JobDelete deletes jobs, their attempts (by foreign key) and their
// events, and cancels the jobs that waited for a deleted job that had not
// succeeded (settleDependents, at filter.Now); see queue.Store.
func (s *Store) JobDelete(ctx context.Context, filter queue.JobFilter) (int, error) {
	query, args := deleteJobs(filter)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, interpretError(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, interpretError(err)
	}
	var ids []any
	var gone []ended
	for rows.Next() {
		var id int64
		var state string
		if err := rows.Scan(&id, &state); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
		gone = append(gone, ended{id: id, state: queue.State(state), deleted: true})
	}
	if err := rows.Close(); err != nil {
		return 0, interpretError(err)
	}
	now := filter.Now
	if now.IsZero() {
		now = time.Now()
	}
	if _, err := s.settleDependents(ctx, tx, ms(now), gone); err != nil {
		return 0, err
	}
	for part := range slices.Chunk(ids, deleteBatch) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE job_id IN ("+placeholders(len(part))+")", part...); err != nil {
			return 0, interpretError(err)
		}
	}
	return len(ids), interpretError(tx.Commit())
}
