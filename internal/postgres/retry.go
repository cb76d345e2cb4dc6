package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
// batches, rounds and dry runs it follows.
func (s *Store) JobRetry(ctx context.Context, params queue.JobRetryParams) ([]queue.JobRetryResult, error) {
	f := params.Filter
	var p placeholders
	where := jobFilter(f, &p)
	r := &retrier{s: s, now: f.Now, dryRun: params.DryRun, retried: map[int64]queue.State{}, keys: map[string]int64{}}
	if len(f.IDs) > 0 {
		return r.batch(ctx, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" ORDER BY id", p.args, f.IDs)
	}
	var out []queue.JobRetryResult
	var cursor int64
	n := len(p.args)
	for {
		args := append(slices.Clone(p.args), cursor, retryBatch)
		res, err := r.batch(ctx, fmt.Sprintf("SELECT "+jobColumns+" FROM jobs WHERE "+where+" AND id > $%d ORDER BY id LIMIT $%d", n+1, n+2), args, nil)
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

// retrier is one JobRetry: what it retried so far, across its batches.
type retrier struct {
	s       *Store
	now     time.Time
	dryRun  bool
	retried map[int64]queue.State
	keys    map[string]int64
}

// errDryRun rolls back a dry run's batch.
var errDryRun = errors.New("dry run")

// batch retries, in one transaction, the jobs query selects; see the
// sqlite store's.
func (r *retrier) batch(ctx context.Context, query string, args []any, named []int64) ([]queue.JobRetryResult, error) {
	var out []queue.JobRetryResult
	err := r.s.write(ctx, func(tx pgx.Tx) error {
		jobs, err := queryJobs(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		if err := loadDependencies(ctx, tx, jobs); err != nil {
			return err
		}
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
			var held []int
			for _, i := range todo {
				res := &out[i]
				if st, ok := r.retried[res.ID]; ok { // named twice
					res.State = st
					continue
				}
				reason, blocked, state, err := r.judge(ctx, tx, res.Job)
				switch {
				case err != nil:
					return err
				case blocked:
					res.Reason = reason
					held = append(held, i)
					continue
				case reason != "":
					res.Reason = reason
					continue
				}
				if _, err := tx.Exec(ctx, retryJob, string(state), ms(r.now), res.ID); err != nil {
					return interpretError(fmt.Errorf("retry job %d: %w", res.ID, err))
				}
				res.State, res.Reason = state, ""
				r.retried[res.ID] = state
				if key := res.Job.UniqueKey; key != "" {
					r.keys[key] = res.ID
				}
			}
			if len(held) == len(todo) || len(held) == 0 {
				break
			}
			todo = held
		}
		if r.dryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return nil, err
	}
	return out, nil
}

// judge says whether job may be retried and into which state; see the
// sqlite store's.
func (r *retrier) judge(ctx context.Context, tx pgx.Tx, job *queue.Job) (reason string, blocked bool, state queue.State, err error) {
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
			err := tx.QueryRow(ctx, `SELECT id FROM jobs WHERE unique_key = $1 AND id != $2
				AND state NOT IN (`+finalStates+`)`, key, job.ID).Scan(&holder)
			switch {
			case err == nil:
				ok = true
			case !errors.Is(err, pgx.ErrNoRows):
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
		err := tx.QueryRow(ctx, "SELECT state FROM jobs WHERE id = $1", dep).Scan(&st)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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
