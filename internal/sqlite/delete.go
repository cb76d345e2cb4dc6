package sqlite

import (
	"context"
	"slices"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// deleteBatch bounds the IDs one statement deletes the events of.
const deleteBatch = 1000

// deleteJobs is the statement that deletes filter's jobs, never running
// ones, oldest first, and its arguments. Deleting final jobs by age, as
// retention does, goes through jobs_finished.
func deleteJobs(filter queue.JobFilter) (string, []any) {
	where, args := jobFilter(filter)
	from, order := "jobs", "id"
	if onlyFinal(filter.States) && !filter.Before.IsZero() {
		from, order = "jobs INDEXED BY jobs_finished", "finished_at, id"
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return `DELETE FROM jobs WHERE id IN (
		SELECT id FROM ` + from + ` WHERE ` + where + ` AND state != 'running'
		ORDER BY ` + order + ` LIMIT ?)
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
	if _, err := settleDependents(ctx, tx, ms(now), gone); err != nil {
		return 0, err
	}
	for part := range slices.Chunk(ids, deleteBatch) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE job_id IN ("+placeholders(len(part))+")", part...); err != nil {
			return 0, interpretError(err)
		}
	}
	return len(ids), interpretError(tx.Commit())
}
