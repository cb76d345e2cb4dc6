package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// JobProgress records a running job's progress, fenced by its run; see
// queue.Store. It changes no state: no write lock.
func (s *Store) JobProgress(ctx context.Context, params queue.JobProgressParams) error {
	return pgx.BeginTxFunc(ctx, s.pool, readCommitted, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE jobs SET progress = $1, progress_message = $2, progress_at = $3
			WHERE id = $4 AND state = 'running' AND run = $5`,
			params.Percent, nullString(params.Message), ms(params.At), params.ID, int64(params.Attempt))
		if err != nil {
			return interpretError(err)
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := tx.QueryRow(ctx, "SELECT 1 FROM jobs WHERE id = $1", params.ID).Scan(&one); err != nil {
				return interpretError(err)
			}
			return queue.ErrNotRunning
		}
		return nil
	})
}
