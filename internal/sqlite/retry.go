package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// retryBatch bounds the jobs one transaction of a retry by filter takes,
// so that retrying a wave of 50,000 dead jobs never holds the write lock
// for long (as retention deletes a batch at a time).
const retryBatch = 1000

// retryJob gives one job a fresh attempt budget, in the state retryState
// chose. Its history (attempts, events, run) is kept.
const retryJob = `UPDATE jobs SET state = ?, attempts = 0, run_at = ?, updated_at = ?,
	finished_at = NULL, exit_code = NULL, signal = NULL, last_error = NULL, worker = NULL,
	lease_until = NULL, cancel_requested = 0` + clearProgress + `
WHERE id = ?`

// JobRetry retries jobs; see queue.Store. Jobs named by ID are retried in
// one transaction. A filter's jobs are retried a batch of retryBatch at a
// time, each batch its own transaction, in ID order from a cursor; a
// failure leaves the batches before it done.
//
// A real run judges each job by the jobs as they are in its batch's
// transaction: what earlier batches retried is committed and may have
// changed since (a worker may have run a retried dependency, and it may
// have died again), and what this batch retried reads as retried. A dry
// run makes each batch's changes in a transaction it then rolls back, so
// it reports what a real run would do at that moment: a job retried in an
// earlier batch of the same command counts as retried (for the unique
// keys it takes and the jobs that depend on it) though its batch was
// rolled back; that alone it takes from r.retried and r.keys.
func (s *Store) JobRetry(ctx context.Context, params queue.JobRetryParams) ([]queue.JobRetryResult, error) {
	f := params.Filter
	where, args := jobFilter(f)
	r := &retrier{s: s, now: f.Now, dryRun: params.DryRun, retried: map[int64]queue.State{}, keys: map[string]int64{}}
	if len(f.IDs) > 0 {
		return r.batch(ctx, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" ORDER BY id", args, f.IDs)
	}
	var out []queue.JobRetryResult
	var cursor int64
	for {
		res, err := r.batch(ctx, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" AND id > ? ORDER BY id LIMIT ?",
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

// retrier is one JobRetry: what it retried so far, across its batches.
// judge reads retried and keys only in a dry run, for the batches it
// rolled back; batch reads retried for a job named twice.
type retrier struct {
	s       *Store
	now     time.Time
	dryRun  bool
	retried map[int64]queue.State // job -> the state it was retried to
	keys    map[string]int64      // unique key -> the job retried with it
}

// batch retries, in one transaction, the jobs query selects; named, when
// set, are the IDs asked for, which the results follow in order (a job
// named twice comes back twice).
//
// A job one of whose dependencies ended dead or cancelled is retried only
// if that dependency is retried in the same command: it then waits for
// it; otherwise it is refused, saying which dependency holds it. Since the
// dependency may be named after it, such jobs are looked at again, round
// after round, until a round retries none of them.
func (r *retrier) batch(ctx context.Context, query string, args []any, named []int64) ([]queue.JobRetryResult, error) {
	tx, err := r.s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	jobs, err := r.s.queryJobs(ctx, tx, query, args...)
	if err != nil {
		return nil, err
	}
	if err := loadDependencies(ctx, tx, jobs); err != nil {
		return nil, err
	}
	var out []queue.JobRetryResult
	if named != nil {
		byID := make(map[int64]*queue.Job, len(jobs))
		for _, j := range jobs {
			byID[j.ID] = j
		}
		for _, id := range named {
			out = append(out, queue.JobRetryResult{ID: id, Job: byID[id]})
		}
	} else {
		for _, j := range jobs {
			out = append(out, queue.JobRetryResult{ID: j.ID, Job: j})
		}
	}
	todo := make([]int, len(out))
	for i := range out {
		todo[i] = i
	}
	for {
		var held []int // waiting for a dependency to be retried
		for _, i := range todo {
			res := &out[i]
			if st, ok := r.retried[res.ID]; ok { // named twice
				res.State = st
				continue
			}
			reason, blocked, state, err := r.judge(ctx, tx, res.Job)
			switch {
			case err != nil:
				return nil, err
			case blocked:
				res.Reason = reason
				held = append(held, i)
				continue
			case reason != "":
				res.Reason = reason
				continue
			}
			now := ms(r.now)
			if _, err := tx.ExecContext(ctx, retryJob, string(state), now, now, res.ID); err != nil {
				return nil, interpretError(fmt.Errorf("retry job %d: %w", res.ID, err))
			}
			res.State, res.Reason = state, ""
			r.retried[res.ID] = state
			if key := res.Job.UniqueKey; key != "" {
				r.keys[key] = res.ID
			}
		}
		if len(held) == len(todo) || len(held) == 0 {
			break // nothing more can be retried: the held keep their reason
		}
		todo = held
	}
	if r.dryRun {
		return out, nil // the deferred Rollback undoes it all
	}
	return out, interpretError(tx.Commit())
}

// judge says whether job may be retried and into which state: pending,
// or waiting while a dependency has not succeeded. reason says why not;
// blocked, that a dependency ended dead or cancelled and was not retried
// (yet). A dependency no longer there was deleted before it succeeded
// (one deleted after leaves no job_deps row: settleDependents): nothing
// would ever release the job, and no retry brings the dependency back.
func (r *retrier) judge(ctx context.Context, tx *sql.Tx, job *queue.Job) (reason string, blocked bool, state queue.State, err error) {
	if job == nil {
		return "not found", false, "", nil
	}
	if st := job.StateAt(r.now); !st.Retryable() {
		return fmt.Sprintf("it is %s", st), false, "", nil
	}
	if key := job.UniqueKey; key != "" {
		var holder int64
		var ok bool
		if r.dryRun {
			holder, ok = r.keys[key]
		}
		if !ok || holder == job.ID {
			err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE unique_key = ? AND id != ?
				AND state NOT IN (`+finalStates+`)`, key, job.ID).Scan(&holder)
			switch {
			case err == nil:
				ok = true
			case !errors.Is(err, sql.ErrNoRows):
				return "", false, "", interpretError(err)
			}
		}
		if ok && holder != job.ID {
			return fmt.Sprintf("job %d holds its unique key %q", holder, key), false, "", nil
		}
	}
	state = queue.StatePending
	for _, dep := range job.DependsOn {
		if _, ok := r.retried[dep]; ok && r.dryRun {
			state = queue.StateWaiting
			continue
		}
		var st string
		err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", dep).Scan(&st)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Sprintf("dependency %d was deleted", dep), false, "", nil
		case err != nil:
			return "", false, "", interpretError(err)
		}
		switch queue.State(st) {
		case queue.StateSucceeded:
		case queue.StateDead, queue.StateCancelled:
			return fmt.Sprintf("dependency %d is %s", dep, st), true, "", nil
		default:
			state = queue.StateWaiting
		}
	}
	return "", false, state, nil
}
