package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jobq/jobq/internal/queue"
)

// JobCancel cancels jobs; see queue.Store. The jobs waiting for a
// cancelled one are cancelled after it (settleDependents).
func (s *Store) JobCancel(ctx context.Context, params queue.JobCancelParams) ([]queue.JobCancelResult, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	now := ms(params.Now)
	out := make([]queue.JobCancelResult, len(params.IDs))
	for i, id := range params.IDs {
		out[i] = queue.JobCancelResult{ID: id}
		var err error
		out[i].State, out[i].Found, err = cancelJob(ctx, tx, id, now)
		if err != nil {
			return nil, err
		}
	}
	return out, interpretError(tx.Commit())
}

// cancelJob cancels one job in tx, as JobCancel does, and returns the
// state it was in and whether it exists.
func cancelJob(ctx context.Context, tx *sql.Tx, id, now int64) (queue.State, bool, error) {
	var state string
	err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, interpretError(err)
	}
	st := queue.State(state)
	switch {
	case st.Final():
	case st == queue.StateRunning:
		_, err = tx.ExecContext(ctx, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", id)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled', finished_at = ?,
			updated_at = ?, last_error = 'cancelled' WHERE id = ?`, now, now, id)
		if err == nil {
			err = settleDependents(ctx, tx, now, []ended{{id: id, state: queue.StateCancelled}})
		}
	}
	if err != nil {
		return "", false, interpretError(fmt.Errorf("cancel job %d: %w", id, err))
	}
	return st, true, nil
}
