package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// clearProgress ends the progress an earlier attempt reported.
const clearProgress = ", progress = NULL, progress_message = NULL, progress_at = NULL"

// claimSet is what a claim does to a job (see the sqlite store's); its
// arguments are $1 worker, $2 lease_until, $3 started_at and updated_at.
const claimSet = `UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = $1, lease_until = $2, started_at = $3, updated_at = $3` + clearProgress

// claimIDs claims the jobs picked ($4).
const claimIDs = claimSet + `
WHERE id = ANY($4)
RETURNING ` + jobColumns

// readyQueues lists the queues among $1 (NULL: every queue) that hold
// ready jobs, with those states, from job_counts: what a claim looks
// into costs a row per queue and state, not per job.
var readyQueues = `SELECT queue, state FROM job_counts
WHERE state IN (` + sqlStates(queue.ReadyStates) + `) AND n > 0 AND ($1::text[] IS NULL OR queue = ANY($1))
ORDER BY queue, state`

// queueHead reads the first $3 ready jobs of queue $1 whose time ($2)
// has come, in claim order, from jobs_ready (queue, priority DESC,
// run_at, id). SKIP LOCKED passes over a job whose row another
// transaction holds rather than waiting for it. Unlike the SQLite
// store's, it reads a queue's priorities in one range: jobs waiting for
// later at a higher priority than the first due one are passed over.
var queueHead = `SELECT id, priority, run_at FROM jobs
WHERE ` + readyCondition + ` AND queue = $1 AND run_at <= $2
ORDER BY priority DESC, run_at, id
LIMIT $3
FOR UPDATE SKIP LOCKED`

// nextRun finds when the first of queue $1's jobs in ready state $2
// whose time has not come ($3) falls due: one seek of jobs_queue_ready
// (queue, state, run_at), whatever the queue holds.
var nextRun = `SELECT min(run_at) FROM jobs
WHERE ` + readyCondition + ` AND queue = $1 AND state = $2 AND run_at > $3`

// dueAny says whether queue $1 holds a job in ready state $2 whose time
// ($3) has come: the head of its range of jobs_queue_ready, one seek (an
// EXISTS may be planned as a scan of the table that stops at the first
// match, which a queue of jobs waiting for later makes the whole table).
var dueAny = `SELECT coalesce(min(run_at) <= $3, false) FROM jobs
WHERE ` + readyCondition + ` AND queue = $1 AND state = $2`

const finishJob = `UPDATE jobs SET state = $1, attempts = $2, run_at = coalesce($3, run_at),
	finished_at = $4, exit_code = $5, signal = $6, last_error = $7, updated_at = $8,
	worker = NULL, lease_until = NULL, cancel_requested = false
WHERE id = $9 AND run = $10 AND state = 'running'`

// cancelRequested reads, for a job handed back, whether jobq cancel asked
// to stop it: it then ends cancelled (queue.JobFinishParams).
const cancelRequested = `SELECT cancel_requested FROM jobs WHERE id = $1 AND run = $2 AND state = 'running'`

// unclaimJob undoes the claim of a job whose command never started
// (queue.JobFinishParams.Unstarted): run, attempts and started_at back to
// what they were before it; unclaimAttempt deletes the attempt's row.
const unclaimJob = `UPDATE jobs SET state = $1, attempts = attempts - 1, run = run - 1,
	started_at = (SELECT a.started_at FROM attempts a WHERE a.job_id = jobs.id AND a.run = jobs.run - 1),
	finished_at = coalesce($2, finished_at), last_error = $3, updated_at = $4,
	worker = NULL, lease_until = NULL, cancel_requested = false
WHERE id = $5 AND run = $6 AND state = 'running'`

const unclaimAttempt = `DELETE FROM attempts WHERE job_id = $1 AND run = $2`

// finishAttempt records an attempt's end. An outcome without output (a
// lost worker's job) keeps the output its worker last flushed.
const finishAttempt = `UPDATE attempts SET finished_at = $1, exit_code = $2, signal = $3,
	error = $4, output = coalesce($5, output), output_size = coalesce($6, output_size)
WHERE job_id = $7 AND run = $8`

// expiredJobs finds the running jobs of lost workers, 100 at most a
// claim. A row a heartbeat holds is passed over: its lease is being
// renewed.
const expiredJobs = "SELECT " + jobColumns + ` FROM jobs
	WHERE state = 'running' AND lease_until < $1 LIMIT 100 FOR UPDATE SKIP LOCKED`

// JobClaim takes back the jobs of lost workers, records outcomes and
// claims jobs, in one transaction under the write lock; see queue.Store.
func (s *Store) JobClaim(ctx context.Context, params queue.JobClaimParams) (*queue.JobClaimResult, error) {
	var queues []string // nil: every queue
	if len(params.Queues) > 0 {
		queues = params.Queues
	}
	var res *queue.JobClaimResult
	s.seen()
	err := s.write(ctx, func(tx pgx.Tx) error {
		res = &queue.JobClaimResult{}
		now := ms(params.Now)
		if params.Expired != nil {
			expired, err := queryJobs(ctx, tx, expiredJobs, now)
			if err != nil {
				return fmt.Errorf("find expired leases: %w", err)
			}
			for _, job := range expired {
				res.Expired = append(res.Expired, params.Expired(job))
			}
			if _, err := finishJobs(ctx, tx, res.Expired); err != nil {
				return err
			}
		}
		var err error
		if res.Lost, err = finishJobs(ctx, tx, params.Finish); err != nil {
			return err
		}
		ready, err := readyStates(ctx, tx, queues)
		if err != nil {
			return err
		}
		var rateNext time.Time
		if params.Limit > 0 {
			if res.Jobs, rateNext, err = claim(ctx, tx, params, ready); err != nil {
				return fmt.Errorf("claim jobs: %w", err)
			}
			slices.SortFunc(res.Jobs, func(a, b *queue.Job) int {
				return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.RunAt.Compare(b.RunAt), cmp.Compare(a.ID, b.ID))
			})
		}
		if len(res.Jobs) < params.Limit {
			if res.NextRunAt, err = nextRunAt(ctx, tx, ready, now); err != nil {
				return err
			}
			if !rateNext.IsZero() && (res.NextRunAt.IsZero() || rateNext.Before(res.NextRunAt)) {
				res.NextRunAt = rateNext
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// finishJobs records outcomes, fenced by each job's run, settles the jobs
// waiting for those that ended, and returns the IDs of the jobs whose
// worker no longer held them.
func finishJobs(ctx context.Context, tx pgx.Tx, finish []queue.JobFinishParams) (lost []int64, err error) {
	for _, p := range finish {
		if p.State == queue.StatePending {
			if p, err = handBack(ctx, tx, p); err != nil {
				return nil, err
			}
		}
		if p.Unstarted {
			found, err := unclaim(ctx, tx, p)
			if err != nil {
				return nil, err
			}
			if !found {
				lost = append(lost, p.ID)
			} else if p.State.Final() {
				if _, err := settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
					return nil, err
				}
			}
			continue
		}
		var finished any
		if p.State.Final() {
			finished = ms(p.FinishedAt)
		}
		var exit any
		if p.ExitCode != nil {
			exit = int64(*p.ExitCode)
		}
		tag, err := tx.Exec(ctx, finishJob, string(p.State), int64(p.Attempts), msOrNull(p.RunAt),
			finished, exit, nullString(p.Signal), nullBytes(p.Error), ms(p.FinishedAt), p.ID, int64(p.Run))
		if err != nil {
			return nil, interpretError(fmt.Errorf("finish job %d: %w", p.ID, err))
		}
		if tag.RowsAffected() == 0 {
			lost = append(lost, p.ID)
			continue
		}
		var size any
		if p.Output != nil {
			size = p.OutputSize
		}
		if _, err := tx.Exec(ctx, finishAttempt, ms(p.FinishedAt), exit,
			nullString(p.Signal), nullBytes(p.Error), p.Output, size, p.ID, int64(p.Run)); err != nil {
			return nil, interpretError(fmt.Errorf("finish attempt: %w", err))
		}
		if p.State.Final() {
			if _, err := settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
				return nil, err
			}
		}
	}
	return lost, nil
}

// handBack turns the hand-back p of a job whose cancel was requested
// into its cancel (see queue.JobFinishParams).
func handBack(ctx context.Context, tx pgx.Tx, p queue.JobFinishParams) (queue.JobFinishParams, error) {
	var requested bool
	err := tx.QueryRow(ctx, cancelRequested, p.ID, int64(p.Run)).Scan(&requested)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return p, nil // not held: lost, as the update will find
	case err != nil:
		return p, interpretError(err)
	}
	if requested {
		p.State, p.Error = queue.StateCancelled, queue.ErrCancelled.Error()
	}
	return p, nil
}

// unclaim records p, the hand-back of a job never started, by undoing its
// claim, and says whether the worker still held the job.
func unclaim(ctx context.Context, tx pgx.Tx, p queue.JobFinishParams) (bool, error) {
	var finished any
	if p.State.Final() {
		finished = ms(p.FinishedAt)
	}
	tag, err := tx.Exec(ctx, unclaimJob, string(p.State), finished, nullBytes(p.Error), ms(p.FinishedAt), p.ID, int64(p.Run))
	if err != nil {
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, unclaimAttempt, p.ID, int64(p.Run)); err != nil {
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	return true, nil
}

// queueState is a queue and one of its ready states that holds jobs.
type queueState struct{ queue, state string }

// readyStates lists the queues among queues (nil: all) that hold ready
// jobs, with those states, in queue order (readyQueues).
func readyStates(ctx context.Context, tx pgx.Tx, queues []string) ([]queueState, error) {
	rows, err := tx.Query(ctx, readyQueues, queues)
	if err != nil {
		return nil, interpretError(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queueState, error) {
		var qs queueState
		return qs, row.Scan(&qs.queue, &qs.state)
	})
	return out, interpretError(err)
}

// nextRunAt is when the first of the ready jobs of ready whose time has
// not come falls due (zero if none waits): the least of one seek per
// queue and state (nextRun).
func nextRunAt(ctx context.Context, tx pgx.Tx, ready []queueState, now int64) (time.Time, error) {
	var next time.Time
	for _, qs := range ready {
		var at sql.NullInt64
		if err := tx.QueryRow(ctx, nextRun, qs.queue, qs.state, now).Scan(&at); err != nil {
			return time.Time{}, interpretError(err)
		}
		if t := fromNullMS(at); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, nil
}

// claim claims up to params.Limit ready jobs within the queues' limits,
// which count every host's jobs (the write lock keeps any other claim
// out between the count and the claim), as the SQLite store's: it reads
// the head of each queue of ready that may start a job, at most as many
// jobs as that queue may start, and claims the first of them all. A
// paused queue, or a limited one that may start no job now, is not read
// at all, however many jobs it holds. next is when a rate limit that held
// back a job whose time had come lets one start (zero if none did).
func claim(ctx context.Context, tx pgx.Tx, params queue.JobClaimParams, ready []queueState) (jobs []*queue.Job, next time.Time, err error) {
	now := ms(params.Now)
	allow, frees, err := allowances(ctx, tx, params.Now)
	if err != nil {
		return nil, next, err
	}
	var heads []head
	for i := 0; i < len(ready); { // one queue at a time: ready is in queue order
		start := i
		for i < len(ready) && ready[i].queue == ready[start].queue {
			i++
		}
		q, states := ready[start].queue, ready[start:i]
		limit := params.Limit
		if n, limited := allow[q]; limited {
			if n <= 0 {
				// Held back: its next start matters if a job of it is due.
				if at, ok := frees[q]; ok && (next.IsZero() || at.Before(next)) {
					due, err := anyDue(ctx, tx, q, states, now)
					if err != nil {
						return nil, next, err
					}
					if due {
						next = at
					}
				}
				continue
			}
			limit = min(limit, n)
		}
		rows, err := tx.Query(ctx, queueHead, q, now, int64(limit))
		if err != nil {
			return nil, next, interpretError(err)
		}
		heads, err = pgx.AppendRows(heads, rows, func(row pgx.CollectableRow) (head, error) {
			var h head
			return h, row.Scan(&h.id, &h.priority, &h.runAt)
		})
		if err != nil {
			return nil, next, interpretError(err)
		}
	}
	if len(heads) == 0 {
		return nil, next, nil
	}
	slices.SortFunc(heads, func(a, b head) int {
		return cmp.Or(cmp.Compare(b.priority, a.priority), cmp.Compare(a.runAt, b.runAt), cmp.Compare(a.id, b.id))
	})
	ids := make([]int64, min(len(heads), params.Limit))
	for i := range ids {
		ids[i] = heads[i].id
	}
	jobs, err = queryJobs(ctx, tx, claimIDs, params.Worker, ms(params.LeaseUntil), now, ids)
	return jobs, next, err
}

// head is a job a claim may take, and its place in the claim order.
type head struct{ id, priority, runAt int64 }

// anyDue says whether a job of queue q in one of states has come to its
// time, by one seek per state (dueAny).
func anyDue(ctx context.Context, tx pgx.Tx, q string, states []queueState, now int64) (bool, error) {
	for _, qs := range states {
		var due bool
		if err := tx.QueryRow(ctx, dueAny, q, qs.state, now).Scan(&due); err != nil || due {
			return due, interpretError(err)
		}
	}
	return false, nil
}

// allowances says how many jobs each paused or limited queue may start
// now, across all workers; see the sqlite store's.
func allowances(ctx context.Context, tx pgx.Tx, now time.Time) (allow map[string]int, frees map[string]time.Time, err error) {
	settings, err := queueSettings(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	allow, frees = map[string]int{}, map[string]time.Time{}
	for _, q := range settings {
		switch {
		case q.Paused:
			allow[q.Name] = 0
			continue
		case q.Concurrency == 0 && q.Rate == 0:
			continue
		}
		n := math.MaxInt
		if q.Concurrency > 0 {
			var running int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM jobs
				WHERE state = 'running' AND queue = $1`, q.Name).Scan(&running); err != nil {
				return nil, nil, interpretError(err)
			}
			n = q.Concurrency - running
		}
		if q.Rate > 0 {
			var started int
			var oldest sql.NullInt64
			if err := tx.QueryRow(ctx, `SELECT count(*), min(started_at) FROM jobs
				WHERE queue = $1 AND started_at > $2`, q.Name, ms(now.Add(-q.RatePeriod))).Scan(&started, &oldest); err != nil {
				return nil, nil, interpretError(err)
			}
			n = min(n, q.Rate-started)
			if started >= q.Rate && oldest.Valid {
				frees[q.Name] = fromMS(oldest.Int64).Add(q.RatePeriod)
			}
		}
		allow[q.Name] = n
	}
	return allow, frees, nil
}
