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
//
// A job this call cancelled, named or cascaded to, is remembered with the
// state it had before, so that a job named after a job it waited for (or
// named twice) is reported as cancelled by the call: `jobq cancel 1 2`
// with 2 --after 1 reports what `jobq cancel 2 1` does.
func (s *Store) JobCancel(ctx context.Context, params queue.JobCancelParams) ([]queue.JobCancelResult, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	now := ms(params.Now)
	cancelled := map[int64]queue.State{} // by this call -> the state before
	out := make([]queue.JobCancelResult, len(params.IDs))
	for i, id := range params.IDs {
		out[i] = queue.JobCancelResult{ID: id}
		if before, ok := cancelled[id]; ok {
			out[i].Found, out[i].State = true, before
			continue
		}
		st, found, cascaded, err := s.cancelJob(ctx, tx, id, now)
		if err != nil {
			return nil, err
		}
		out[i].State, out[i].Found = st, found
		if found && !st.Final() && st != queue.StateRunning {
			cancelled[id] = st
		}
		for _, d := range cascaded {
			cancelled[d] = queue.StateWaiting // settleDependents cancels only waiting jobs
		}
	}
	return out, interpretError(tx.Commit())
}

// cancelJob cancels one job in tx, as JobCancel does, and returns the
// state it was in, whether it exists, and the jobs its cancellation
// cancelled in turn (the jobs waiting for it, and theirs).
func (s *Store) cancelJob(ctx context.Context, tx *sql.Tx, id, now int64) (st queue.State, found bool, cascaded []int64, err error) {
	var state string
	err = tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil, nil
	}
	if err != nil {
		return "", false, nil, interpretError(err)
	}
	st = queue.State(state)
	switch {
	case st.Final():
	case st == queue.StateRunning:
		_, err = tx.ExecContext(ctx, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", id)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled', finished_at = ?,
			updated_at = ?, last_error = 'cancelled' WHERE id = ?`, now, now, id)
		if err == nil {
			cascaded, err = s.settleDependents(ctx, tx, now, []ended{{id: id, state: queue.StateCancelled}})
		}
	}
	if err != nil {
		return "", false, nil, interpretError(fmt.Errorf("cancel job %d: %w", id, err))
	}
	return st, true, cascaded, nil
}
