package sqlite

import (
	"context"

	"github.com/jobq/jobq/internal/queue"
)

// JobProgress records a running job's progress, fenced by its run; see
// queue.Store.
func (s *Store) JobProgress(ctx context.Context, params queue.JobProgressParams) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, `UPDATE jobs SET progress = ?, progress_message = ?, progress_at = ?
		WHERE id = ? AND state = 'running' AND run = ?`,
		params.Percent, nullString(params.Message), ms(params.At), params.ID, params.Attempt)
	if err != nil {
		return interpretError(err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM jobs WHERE id = ?", params.ID).Scan(&one); err != nil {
			return interpretError(err)
		}
		return queue.ErrNotRunning
	}
	return interpretError(tx.Commit())
}
