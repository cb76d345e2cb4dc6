package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// JobCancel cancels jobs; see queue.Store and the sqlite store's, whose
// rules it follows.
func (s *Store) JobCancel(ctx context.Context, params queue.JobCancelParams) ([]queue.JobCancelResult, error) {
	var out []queue.JobCancelResult
	err := s.write(ctx, func(tx pgx.Tx) error {
		now := ms(params.Now)
		cancelled := map[int64]queue.State{} // by this call -> the state before
		out = make([]queue.JobCancelResult, len(params.IDs))
		for i, id := range params.IDs {
			out[i] = queue.JobCancelResult{ID: id}
			if before, ok := cancelled[id]; ok {
				out[i].Found, out[i].State = true, before
				continue
			}
			st, found, cascaded, err := cancelJob(ctx, tx, id, now)
			if err != nil {
				return err
			}
			out[i].State, out[i].Found = st, found
			if found && !st.Final() && st != queue.StateRunning {
				cancelled[id] = st
			}
			for _, d := range cascaded {
				cancelled[d] = queue.StateWaiting
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// cancelJob cancels one job in tx, as JobCancel does, and returns the
// state it was in, whether it exists, and the jobs its cancellation
// cancelled in turn.
func cancelJob(ctx context.Context, tx pgx.Tx, id, now int64) (st queue.State, found bool, cascaded []int64, err error) {
	var state string
	err = tx.QueryRow(ctx, "SELECT state FROM jobs WHERE id = $1", id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil, nil
	}
	if err != nil {
		return "", false, nil, interpretError(err)
	}
	st = queue.State(state)
	switch {
	case st.Final():
	case st == queue.StateRunning:
		_, err = tx.Exec(ctx, "UPDATE jobs SET cancel_requested = true WHERE id = $1", id)
	default:
		_, err = tx.Exec(ctx, `UPDATE jobs SET state = 'cancelled', finished_at = $1,
			updated_at = $1, last_error = 'cancelled'::bytea WHERE id = $2`, now, id)
		if err == nil {
			cascaded, err = settleDependents(ctx, tx, now, []ended{{id: id, state: queue.StateCancelled}})
		}
	}
	if err != nil {
		return "", false, nil, interpretError(fmt.Errorf("cancel job %d: %w", id, err))
	}
	return st, true, cascaded, nil
}
