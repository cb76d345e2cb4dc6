package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jobq/jobq/internal/queue"
)

// retryBatch bounds the jobs one transaction of a retry by filter takes,
// so that retrying a wave of 50,000 dead jobs never holds the write lock
// for long (as retention deletes a batch at a time).
const retryBatch = 1000

// retryJob gives one job a fresh attempt budget, in the state
// queue.Retrier chose. Its history (attempts, events, run) is kept.
const retryJob = `UPDATE jobs SET state = ?, attempts = 0, run_at = ?, updated_at = ?,
	finished_at = NULL, exit_code = NULL, signal = NULL, last_error = NULL, worker = NULL,
	lease_until = NULL, cancel_requested = 0` + clearProgress + `
WHERE id = ?`

// JobRetry retries jobs; see queue.Store. Jobs named by ID are retried in
// one transaction. A filter's jobs are retried a batch of retryBatch at a
// time, each batch its own transaction, in ID order from a cursor; a
// failure leaves the batches before it done. What each job becomes is
// queue.Retrier's to decide; a dry run's batches are rolled back.
func (s *Store) JobRetry(ctx context.Context, params queue.JobRetryParams) ([]queue.JobRetryResult, error) {
	f := params.Filter
	where, args := jobFilter(f)
	r := queue.NewRetrier(f.Now, params.DryRun)
	if len(f.IDs) > 0 {
		return s.retryBatch(ctx, r, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" ORDER BY id", args, f.IDs)
	}
	var out []queue.JobRetryResult
	var cursor int64
	for {
		res, err := s.retryBatch(ctx, r, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" AND id > ? ORDER BY id LIMIT ?",
			append(slices.Clone(args), cursor, retryBatch), nil)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
		if s.retryBatchDone != nil && !params.DryRun {
			s.retryBatchDone()
		}
		if len(res) < retryBatch {
			return out, nil
		}
		cursor = res[len(res)-1].ID
	}
}

// retryBatch retries, in one transaction, the jobs query selects; named,
// when set, are the IDs asked for (see queue.Retrier.Batch).
func (s *Store) retryBatch(ctx context.Context, r *queue.Retrier, query string, args []any, named []int64) ([]queue.JobRetryResult, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	jobs, err := s.queryJobs(ctx, tx, query, args...)
	if err != nil {
		return nil, err
	}
	if err := loadDependencies(ctx, tx, jobs); err != nil {
		return nil, err
	}
	out, err := r.Batch(ctx, retryTx{tx: tx, now: ms(r.Now())}, jobs, named)
	if err != nil || r.DryRun() {
		return out, err // the deferred Rollback undoes a dry run
	}
	return out, interpretError(tx.Commit())
}

// retryTx is queue.RetryTx in one batch's transaction.
type retryTx struct {
	tx  *sql.Tx
	now int64
}

func (t retryTx) KeyHolder(ctx context.Context, key string, id int64) (int64, error) {
	var holder int64
	err := t.tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE unique_key = ? AND id != ?
		AND state NOT IN (`+finalStates+`)`, key, id).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return holder, interpretError(err)
}

func (t retryTx) JobState(ctx context.Context, id int64) (queue.State, bool, error) {
	var st string
	err := t.tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return queue.State(st), err == nil, interpretError(err)
}

func (t retryTx) Retry(ctx context.Context, id int64, state queue.State) error {
	if _, err := t.tx.ExecContext(ctx, retryJob, string(state), t.now, t.now, id); err != nil {
		return interpretError(fmt.Errorf("retry job %d: %w", id, err))
	}
	return nil
}
