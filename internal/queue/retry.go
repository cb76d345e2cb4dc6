package queue

import (
	"context"
	"fmt"
	"time"
)

// retryDecision is whether one job may be retried, and into which state.
type retryDecision struct {
	// State is pending, or waiting while a dependency has not succeeded;
	// empty when the job is refused, and Reason says why.
	State  State
	Reason string
	// Held marks a refusal because a dependency ended dead or cancelled:
	// a retry of that dependency in the same call lifts it (the job then
	// waits for it).
	Held bool
}

// decideRetry decides whether jobq retry may give job a fresh start at
// now, from what the store read in the retry's transaction: keyHolder is
// a job other than job, not final, that holds its unique key (0 when
// none); deps has the stored state of each of job.DependsOn, and a
// dependency missing from it no longer exists. A dependency deleted
// before it succeeded refuses the job for good (one deleted after leaves
// DependsOn): nothing would ever release the job, and no retry brings the
// dependency back. job is nil when no job has the ID asked for.
func decideRetry(job *Job, now time.Time, keyHolder int64, deps map[int64]State) retryDecision {
	if job == nil {
		return retryDecision{Reason: "not found"}
	}
	if st := job.StateAt(now); !st.Retryable() {
		return retryDecision{Reason: fmt.Sprintf("it is %s", st)}
	}
	if keyHolder != 0 && keyHolder != job.ID {
		return retryDecision{Reason: fmt.Sprintf("job %d holds its unique key %q", keyHolder, job.UniqueKey)}
	}
	state := StatePending
	for _, dep := range job.DependsOn {
		st, ok := deps[dep]
		switch {
		case !ok:
			return retryDecision{Reason: fmt.Sprintf("dependency %d was deleted", dep)}
		case st == StateSucceeded:
		case st == StateDead || st == StateCancelled:
			return retryDecision{Reason: fmt.Sprintf("dependency %d is %s", dep, st), Held: true}
		default:
			state = StateWaiting
		}
	}
	return retryDecision{State: state}
}

// RetryTx is what a store reads and writes for one batch of a retry, in
// that batch's transaction.
type RetryTx interface {
	// KeyHolder returns the job other than id, not final, that holds the
	// unique key; 0 when none.
	KeyHolder(ctx context.Context, key string, id int64) (int64, error)
	// JobState returns the stored state of job id; ok is false when no
	// job has that ID.
	JobState(ctx context.Context, id int64) (state State, ok bool, err error)
	// Retry gives job id a fresh attempt budget in state (pending or
	// waiting), at the retry's Now; its history is kept.
	Retry(ctx context.Context, id int64, state State) error
}

// Retrier carries one Store.JobRetry across its batches: what it retried
// so far. A store makes one per call with NewRetrier and hands each
// batch's jobs, read in the batch's transaction, to Batch.
//
// A real run judges each job by the jobs as they are in its batch's
// transaction: what earlier batches retried is committed and may have
// changed since (a worker may have run a retried dependency, and it may
// have died again), and what this batch retried reads as retried. A dry
// run makes each batch's changes in a transaction the store then rolls
// back, so it reports what a real run would do at that moment: a job
// retried in an earlier batch of the same call counts as retried (for the
// unique key it takes and the jobs that depend on it) though its batch
// was rolled back; that alone it takes from what the Retrier remembers.
type Retrier struct {
	now     time.Time
	dryRun  bool
	retried map[int64]State  // job -> the state it was retried to
	keys    map[string]int64 // unique key -> the job retried with it
}

// NewRetrier starts a retry at now; dryRun says its batches are rolled
// back.
func NewRetrier(now time.Time, dryRun bool) *Retrier {
	return &Retrier{now: now, dryRun: dryRun, retried: map[int64]State{}, keys: map[string]int64{}}
}

// Now is the retry's time: a store writes it as each retried job's
// run_at and updated_at.
func (r *Retrier) Now() time.Time { return r.now }

// DryRun says a store rolls back each batch once Batch has made its
// changes.
func (r *Retrier) DryRun() bool { return r.dryRun }

// Batch retries, through tx, the jobs of one batch (with DependsOn
// loaded) and returns what it did to each. named, when set, are the IDs
// asked for, which the results follow in order (a job named twice comes
// back twice; one not found comes back with a nil Job); otherwise the
// results follow jobs.
//
// A job one of whose dependencies ended dead or cancelled is retried only
// if that dependency is retried in the same call: it then waits for it;
// otherwise it is refused, saying which dependency holds it. Since the
// dependency may come after it, such jobs are looked at again, round
// after round, until a round retries none of them.
func (r *Retrier) Batch(ctx context.Context, tx RetryTx, jobs []*Job, named []int64) ([]JobRetryResult, error) {
	var out []JobRetryResult
	if named != nil {
		byID := make(map[int64]*Job, len(jobs))
		for _, j := range jobs {
			byID[j.ID] = j
		}
		for _, id := range named {
			out = append(out, JobRetryResult{ID: id, Job: byID[id]})
		}
	} else {
		for _, j := range jobs {
			out = append(out, JobRetryResult{ID: j.ID, Job: j})
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
			d, err := r.decide(ctx, tx, res.Job)
			if err != nil {
				return nil, err
			}
			if res.Reason = d.Reason; d.State == "" {
				if d.Held {
					held = append(held, i)
				}
				continue
			}
			if err := tx.Retry(ctx, res.ID, d.State); err != nil {
				return nil, err
			}
			res.State = d.State
			r.retried[res.ID] = d.State
			if key := res.Job.UniqueKey; key != "" {
				r.keys[key] = res.ID
			}
		}
		if len(held) == len(todo) || len(held) == 0 {
			break // nothing more can be retried: the held keep their reason
		}
		todo = held
	}
	return out, nil
}

// decide reads what decideRetry needs of job through tx, overlaid in a
// dry run with what earlier, rolled-back batches retried; it reads
// nothing for a job that cannot be retried whatever the others are.
func (r *Retrier) decide(ctx context.Context, tx RetryTx, job *Job) (retryDecision, error) {
	if job == nil || !job.StateAt(r.now).Retryable() {
		return decideRetry(job, r.now, 0, nil), nil
	}
	var holder int64
	if key := job.UniqueKey; key != "" {
		var ok bool
		if r.dryRun {
			holder, ok = r.keys[key]
		}
		if !ok || holder == job.ID {
			var err error
			if holder, err = tx.KeyHolder(ctx, key, job.ID); err != nil {
				return retryDecision{}, err
			}
		}
	}
	deps := make(map[int64]State, len(job.DependsOn))
	for _, dep := range job.DependsOn {
		if st, ok := r.retried[dep]; ok && r.dryRun {
			deps[dep] = st
			continue
		}
		st, ok, err := tx.JobState(ctx, dep)
		if err != nil {
			return retryDecision{}, err
		}
		if ok {
			deps[dep] = st
		}
	}
	return decideRetry(job, r.now, holder, deps), nil
}
