package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// JobDelete deletes up to the filter's Limit jobs, never running ones,
// oldest first (by when they ended when all its states are final and it
// has a Before, as retention asks; else by ID), their attempts (by
// foreign key) and their events, and cancels the jobs that waited for a
// deleted job that had not succeeded; see queue.Store.
func (s *Store) JobDelete(ctx context.Context, filter queue.JobFilter) (int, error) {
	var p placeholders
	where := jobFilter(filter, &p)
	order := "id"
	if onlyFinal(filter.States) && !filter.Before.IsZero() {
		order = "finished_at, id"
	}
	limit := ""
	if filter.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(filter.Limit)
	}
	query := `DELETE FROM jobs WHERE id IN (
		SELECT id FROM jobs WHERE ` + where + ` AND state != 'running'
		ORDER BY ` + order + limit + `)
		RETURNING id, state`
	var n int
	err := s.write(ctx, func(tx pgx.Tx) error {
		var ids []int64
		var gone []ended
		err := eachRow(ctx, tx, query, p.args, func(rows pgx.Rows) error {
			var id int64
			var state string
			if err := rows.Scan(&id, &state); err != nil {
				return err
			}
			ids = append(ids, id)
			gone = append(gone, ended{id: id, state: queue.State(state), deleted: true})
			return nil
		})
		if err != nil {
			return err
		}
		now := filter.Now
		if now.IsZero() {
			now = time.Now()
		}
		if _, err := settleDependents(ctx, tx, ms(now), gone); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM events WHERE job_id = ANY($1)", ids); err != nil {
			return interpretError(err)
		}
		n = len(ids)
		return nil
	})
	return n, err
}
