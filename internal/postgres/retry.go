package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// retryBatch bounds the jobs one transaction of a retry by filter takes.
const retryBatch = 1000

// retryJob gives one job a fresh attempt budget; its history is kept.
const retryJob = `UPDATE jobs SET state = $1, attempts = 0, run_at = $2, updated_at = $2,
	finished_at = NULL, exit_code = NULL, signal = NULL, last_error = NULL, worker = NULL,
	lease_until = NULL, cancel_requested = false` + clearProgress + `
WHERE id = $3`

// JobRetry retries jobs; see queue.Store and the sqlite store's, whose
// batches it follows. What each job becomes is queue.Retrier's to decide.
func (s *Store) JobRetry(ctx context.Context, params queue.JobRetryParams) ([]queue.JobRetryResult, error) {
	f := params.Filter
	var p placeholders
	where := jobFilter(f, &p)
	r := queue.NewRetrier(f.Now, params.DryRun)
	if len(f.IDs) > 0 {
		return s.retryBatch(ctx, r, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" ORDER BY id", p.args, f.IDs)
	}
	var out []queue.JobRetryResult
	var cursor int64
	n := len(p.args)
	for {
		args := append(slices.Clone(p.args), cursor, retryBatch)
		res, err := s.retryBatch(ctx, r, fmt.Sprintf("SELECT "+jobColumns+" FROM jobs WHERE "+where+" AND id > $%d ORDER BY id LIMIT $%d", n+1, n+2), args, nil)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
		if len(res) < retryBatch {
			return out, nil
		}
		cursor = res[len(res)-1].ID
	}
}

// errDryRun rolls back a dry run's batch.
var errDryRun = errors.New("dry run")

// retryBatch retries, in one transaction, the jobs query selects; named,
// when set, are the IDs asked for (see queue.Retrier.Batch).
func (s *Store) retryBatch(ctx context.Context, r *queue.Retrier, query string, args []any, named []int64) ([]queue.JobRetryResult, error) {
	var out []queue.JobRetryResult
	err := s.write(ctx, func(tx pgx.Tx) error {
		jobs, err := queryJobs(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		if err := loadDependencies(ctx, tx, jobs); err != nil {
			return err
		}
		if out, err = r.Batch(ctx, retryTx{tx: tx, now: ms(r.Now())}, jobs, named); err != nil {
			return err
		}
		if r.DryRun() {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return nil, err
	}
	return out, nil
}

// retryTx is queue.RetryTx in one batch's transaction.
type retryTx struct {
	tx  pgx.Tx
	now int64
}

func (t retryTx) KeyHolder(ctx context.Context, key string, id int64) (int64, error) {
	var holder int64
	err := t.tx.QueryRow(ctx, `SELECT id FROM jobs WHERE unique_key = $1 AND id != $2
		AND state NOT IN (`+finalStates+`)`, key, id).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return holder, interpretError(err)
}

func (t retryTx) JobState(ctx context.Context, id int64) (queue.State, bool, error) {
	var st string
	err := t.tx.QueryRow(ctx, "SELECT state FROM jobs WHERE id = $1", id).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return queue.State(st), err == nil, interpretError(err)
}

func (t retryTx) Retry(ctx context.Context, id int64, state queue.State) error {
	if _, err := t.tx.Exec(ctx, retryJob, string(state), t.now, id); err != nil {
		return interpretError(fmt.Errorf("retry job %d: %w", id, err))
	}
	return nil
}
