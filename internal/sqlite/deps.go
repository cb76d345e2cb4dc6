package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jobq/jobq/internal/queue"
)

// settleDependencies gives a job with --after the state its dependencies
// call for: waiting while one has not succeeded. A job one of whose
// dependencies already ended dead or cancelled is inserted waiting and
// cancelled right after (failed maps its index to that dependency), so that
// the event log shows why. A dependency that does not exist is an error.
func settleDependencies(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams) (out []queue.JobInsertParams, failed map[int]string, err error) {
	out = params
	for i := range params {
		if len(params[i].After) == 0 {
			continue
		}
		if failed == nil {
			out = slices.Clone(params) // the caller's params stay as they are
			failed = map[int]string{}
		}
		allSucceeded := true
		for _, dep := range params[i].After {
			var state string
			err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", dep).Scan(&state)
			if err != nil {
				return nil, nil, fmt.Errorf("--after job %d: %w", dep, interpretError(err))
			}
			switch queue.State(state) {
			case queue.StateSucceeded:
			case queue.StateDead, queue.StateCancelled:
				failed[i] = fmt.Sprintf("dependency %d ended %s", dep, state)
				allSucceeded = false
			default:
				allSucceeded = false
			}
		}
		switch {
		case !allSucceeded:
			out[i].State = queue.StateWaiting
		case out[i].State == queue.StateWaiting:
			// Nothing would ever wake it: it runs as a job without --after.
			out[i].State = queue.NewJobState(out[i].RunAt, out[i].CreatedAt)
		}
	}
	return out, failed, nil
}

// insertDependencies records the dependencies of the inserted jobs, and
// cancels those whose dependencies already failed.
func insertDependencies(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams, fresh []int, ids []int64, failed map[int]string) error {
	for _, i := range fresh {
		for _, dep := range params[i].After {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO job_deps (job_id, depends_on) VALUES (?, ?)", ids[i], dep); err != nil {
				return interpretError(fmt.Errorf("insert dependency: %w", err))
			}
		}
		if why, ok := failed[i]; ok {
			now := ms(params[i].CreatedAt)
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled', last_error = ?,
				finished_at = ?, updated_at = ? WHERE id = ?`, why, now, now, ids[i]); err != nil {
				return interpretError(err)
			}
		}
	}
	return nil
}
