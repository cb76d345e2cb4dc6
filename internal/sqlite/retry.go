package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jobq/jobq/internal/queue"
)

// retryJob gives one job a fresh attempt budget, waiting while one of its
// dependencies has not succeeded, as jobs_dependency_succeeded (migration
// 0001) judges them.
const retryJob = `UPDATE jobs SET
	state = CASE WHEN EXISTS (
		SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
		WHERE d.job_id = jobs.id AND p.state IS NOT 'succeeded') THEN 'waiting' ELSE 'pending' END,
	attempts = 0, run_at = ?, updated_at = ?, finished_at = NULL, exit_code = NULL,
	signal = NULL, last_error = NULL, worker = NULL, lease_until = NULL, cancel_requested = 0` +
	clearProgress + `
WHERE id = ?
RETURNING state`

// JobRetry retries jobs; see queue.Store. A dry run makes the same changes
// in a transaction it then rolls back, so it reports exactly what a real
// one would have done at that moment.
func (s *Store) JobRetry(ctx context.Context, params queue.JobRetryParams) ([]queue.JobRetryResult, error) {
	f := params.Filter
	where, args := jobFilter(f)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	jobs, err := s.queryJobs(ctx, tx, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	var out []queue.JobRetryResult
	if len(f.IDs) > 0 {
		byID := make(map[int64]*queue.Job, len(jobs))
		for _, j := range jobs {
			byID[j.ID] = j
		}
		for _, id := range f.IDs {
			out = append(out, queue.JobRetryResult{ID: id, Job: byID[id]})
		}
	} else {
		for _, j := range jobs {
			out = append(out, queue.JobRetryResult{ID: j.ID, Job: j})
		}
	}
	now := ms(f.Now)
	done := map[int64]queue.State{}
	for i := range out {
		r := &out[i]
		if st, ok := done[r.ID]; ok { // named twice
			r.State = st
			continue
		}
		if r.Job == nil {
			r.Reason = "not found"
			continue
		}
		if st := r.Job.StateAt(f.Now); !st.Retryable() {
			r.Reason = fmt.Sprintf("it is %s", st)
			continue
		}
		if r.Job.UniqueKey != "" {
			var holder int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE unique_key = ? AND id != ?
				AND state NOT IN (`+finalStates+`)`, r.Job.UniqueKey, r.ID).Scan(&holder)
			switch {
			case err == nil:
				r.Reason = fmt.Sprintf("job %d holds its unique key %q", holder, r.Job.UniqueKey)
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return nil, interpretError(err)
			}
		}
		var state string
		if err := tx.QueryRowContext(ctx, retryJob, now, now, r.ID).Scan(&state); err != nil {
			return nil, interpretError(fmt.Errorf("retry job %d: %w", r.ID, err))
		}
		r.State = queue.State(state)
		done[r.ID] = r.State
	}
	if params.DryRun {
		return out, nil // the deferred Rollback undoes it all
	}
	return out, interpretError(tx.Commit())
}
