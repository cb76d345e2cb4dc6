package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// clearProgress ends the progress an earlier attempt reported.
const clearProgress = ", progress = NULL, progress_message = NULL, progress_at = NULL"

// claimSet is what a claim does to a job, whichever way it was picked:
// running, an attempt counted and a run begun (jobs_claimed opens its
// attempts row), the worker's lease, and the progress of an earlier run
// cleared. Its arguments: worker, lease_until, started_at, updated_at.
const claimSet = `UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = ?, lease_until = ?, started_at = ?, updated_at = ?` + clearProgress

// claimJobs claims the first ready jobs in one statement. It names
// jobs_ready: without statistics (jobq runs no ANALYZE) the planner
// prefers jobs_state for the state test, then sorts every ready job to
// pick the first few (TestClaimUsesReadyIndex). The %s is the queue
// filter, the %d the limit: written in, not bound, since SQLite compiles
// a statement again when a value is bound to a parameter its plan used,
// as a LIMIT's is; bound, it made a kept claim statement recompile at
// every claim (docs/performance.md).
var claimJobs = claimSet + `
WHERE id IN (
	SELECT id FROM jobs INDEXED BY jobs_ready
	WHERE ` + readyCondition + ` AND run_at <= ? %s
	ORDER BY priority DESC, run_at, id
	LIMIT %d)
RETURNING ` + jobColumns

// claimIDs is the claim of claimJobs for jobs picked one by one, when a
// queue is paused or limited. The %s is their placeholders.
const claimIDs = claimSet + `
WHERE id IN (%s)
RETURNING ` + jobColumns

// readyJobs lists ready jobs in claim order, for picking by hand.
var readyJobs = `SELECT id, queue FROM jobs INDEXED BY jobs_ready
WHERE ` + readyCondition + ` AND run_at <= ? %s
ORDER BY priority DESC, run_at, id`

// nextReady finds when the next job waiting for its time falls due.
var nextReady = `SELECT min(run_at) FROM jobs INDEXED BY jobs_ready
WHERE ` + readyCondition + ` AND run_at > ? `

const finishJob = `UPDATE jobs SET state = ?, attempts = ?, run_at = coalesce(?, run_at),
	finished_at = ?, exit_code = ?, signal = ?, last_error = ?, updated_at = ?,
	worker = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ? AND run = ? AND state = 'running'`

// cancelRequested reads, for a job handed back, whether jobq cancel asked
// to stop it: it then ends cancelled (queue.JobFinishParams).
const cancelRequested = `SELECT cancel_requested FROM jobs WHERE id = ? AND run = ? AND state = 'running'`

// unclaimJob undoes the claim of a job whose command never started
// (queue.JobFinishParams.Unstarted): run, attempts and started_at back to
// what they were before it; unclaimAttempt deletes the attempt's row.
const unclaimJob = `UPDATE jobs SET state = ?, attempts = attempts - 1, run = run - 1,
	started_at = (SELECT a.started_at FROM attempts a WHERE a.job_id = jobs.id AND a.run = jobs.run - 1),
	finished_at = coalesce(?, finished_at), last_error = ?, updated_at = ?,
	worker = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ? AND run = ? AND state = 'running'`

const unclaimAttempt = `DELETE FROM attempts WHERE job_id = ? AND run = ?`

// finishAttempt records an attempt's end. An outcome without output (a
// lost worker's job) keeps the output its worker last flushed.
const finishAttempt = `UPDATE attempts SET finished_at = ?, exit_code = ?, signal = ?,
	error = ?, output = coalesce(?, output), output_size = coalesce(?, output_size)
WHERE job_id = ? AND run = ?`

// dataVersion reads the writer connection's data_version (see Store.seen).
const dataVersion = "PRAGMA data_version"

// expiredJobs finds the running jobs of lost workers, 100 at most a
// claim (the limit is written in, as in claimJobs). It names jobs_lease:
// without statistics the planner prefers jobs_state and reads every
// running job to find the few whose lease ended.
const expiredJobs = "SELECT " + jobColumns + ` FROM jobs INDEXED BY jobs_lease
	WHERE state = 'running' AND lease_until < ? LIMIT 100`

// JobClaim takes back the jobs of lost workers, records outcomes and
// claims jobs, in one transaction; see queue.Store.
func (s *Store) JobClaim(ctx context.Context, params queue.JobClaimParams) (*queue.JobClaimResult, error) {
	filter, filterArgs := queueFilter(params.Queues)
	if err := s.prepare(ctx, expiredJobs, finishJob, finishAttempt, waitedOnJobs, dependents, releaseJob,
		cancelDependent, queueSettingsQuery, fmt.Sprintf(claimJobs, filter, params.Limit), nextReady+filter,
		dataVersion); err != nil {
		return nil, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	k := keptTx{s, tx}
	res := &queue.JobClaimResult{}
	now := ms(params.Now)
	if params.Expired != nil {
		expired, err := s.queryJobs(ctx, k, expiredJobs, now)
		if err != nil {
			return nil, fmt.Errorf("find expired leases: %w", err)
		}
		for _, job := range expired {
			res.Expired = append(res.Expired, params.Expired(job))
		}
		if _, err := s.finishJobs(ctx, tx, res.Expired); err != nil {
			return nil, err
		}
	}
	if res.Lost, err = s.finishJobs(ctx, tx, params.Finish); err != nil {
		return nil, err
	}
	var rateNext time.Time
	if params.Limit > 0 {
		if res.Jobs, rateNext, err = s.claim(ctx, tx, params); err != nil {
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		// RETURNING gives rows in no promised order.
		slices.SortFunc(res.Jobs, func(a, b *queue.Job) int {
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.RunAt.Compare(b.RunAt), cmp.Compare(a.ID, b.ID))
		})
	}
	if len(res.Jobs) < params.Limit {
		var next sql.NullInt64
		if err := k.QueryRowContext(ctx, nextReady+filter,
			append([]any{now}, filterArgs...)...).Scan(&next); err != nil {
			return nil, interpretError(err)
		}
		res.NextRunAt = fromNullMS(next)
		if !rateNext.IsZero() && (res.NextRunAt.IsZero() || rateNext.Before(res.NextRunAt)) {
			res.NextRunAt = rateNext
		}
	}
	var version int64
	if err := k.QueryRowContext(ctx, dataVersion).Scan(&version); err != nil {
		return nil, interpretError(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, interpretError(err)
	}
	s.seen.Store(version)
	return res, nil
}

// finishJobs records outcomes, fenced by each job's run, settles the jobs
// waiting for those that ended, and returns the IDs of the jobs whose
// worker no longer held them. A busy worker records many outcomes in one
// call: each statement is looked up once, and one query (waitedOn) says
// which of the jobs have others waiting for them, so that the rest cost
// no dependents query each (a third of a claim's time, profiled).
func (s *Store) finishJobs(ctx context.Context, tx *sql.Tx, finish []queue.JobFinishParams) (lost []int64, err error) {
	if len(finish) == 0 {
		return nil, nil
	}
	k := keptTx{s, tx}
	job, err := s.stmt(ctx, tx, finishJob)
	if err != nil {
		return nil, err
	}
	attempt, err := s.stmt(ctx, tx, finishAttempt)
	if err != nil {
		return nil, err
	}
	waited, err := waitedOn(ctx, k, finish)
	if err != nil {
		return nil, err
	}
	for _, p := range finish {
		if p.State == queue.StatePending {
			if p, err = s.handBack(ctx, tx, p); err != nil {
				return nil, err
			}
		}
		if p.Unstarted {
			found, err := s.unclaim(ctx, tx, p)
			if err != nil {
				return nil, err
			}
			if !found {
				lost = append(lost, p.ID)
			} else if p.State.Final() && waited[p.ID] {
				if _, err := s.settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
					return nil, err
				}
			}
			continue
		}
		var finished any
		if p.State.Final() {
			finished = ms(p.FinishedAt)
		}
		r, err := job.ExecContext(ctx, string(p.State), p.Attempts, msOrNull(p.RunAt),
			finished, p.ExitCode, nullString(p.Signal), nullString(p.Error), ms(p.FinishedAt), p.ID, p.Run)
		if err != nil {
			return nil, interpretError(fmt.Errorf("finish job %d: %w", p.ID, err))
		}
		if n, _ := r.RowsAffected(); n == 0 {
			lost = append(lost, p.ID)
			continue
		}
		var size any
		if p.Output != nil {
			size = p.OutputSize
		}
		if _, err := attempt.ExecContext(ctx, ms(p.FinishedAt), p.ExitCode,
			nullString(p.Signal), nullString(p.Error), p.Output, size, p.ID, p.Run); err != nil {
			return nil, interpretError(fmt.Errorf("finish attempt: %w", err))
		}
		if p.State.Final() && waited[p.ID] {
			if _, err := s.settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
				return nil, err
			}
		}
	}
	return lost, nil
}

// handBack turns the hand-back p of a job whose cancel was requested
// into its cancel (see queue.JobFinishParams).
func (s *Store) handBack(ctx context.Context, tx *sql.Tx, p queue.JobFinishParams) (queue.JobFinishParams, error) {
	var requested bool
	err := keptTx{s, tx}.QueryRowContext(ctx, cancelRequested, p.ID, p.Run).Scan(&requested)
	switch {
	case err == sql.ErrNoRows:
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
func (s *Store) unclaim(ctx context.Context, tx *sql.Tx, p queue.JobFinishParams) (bool, error) {
	k := keptTx{s, tx}
	var finished any
	if p.State.Final() {
		finished = ms(p.FinishedAt)
	}
	r, err := k.ExecContext(ctx, unclaimJob, string(p.State), finished, nullString(p.Error), ms(p.FinishedAt), p.ID, p.Run)
	if err != nil {
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := k.ExecContext(ctx, unclaimAttempt, p.ID, p.Run); err != nil {
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	return true, nil
}

// waitedOnJobs finds which of a JSON array of job IDs some job was
// inserted to wait for (--after), through job_deps_depends_on.
const waitedOnJobs = `SELECT DISTINCT depends_on FROM job_deps
WHERE depends_on IN (SELECT value FROM json_each(?))`

// waitedOn says which of the jobs that finish ends have rows in job_deps:
// only those can have dependents to settle. Finishing does not change
// job_deps, so it can be read before the outcomes are recorded.
func waitedOn(ctx context.Context, k keptTx, finish []queue.JobFinishParams) (map[int64]bool, error) {
	ids := make([]byte, 0, 8*len(finish))
	ids = append(ids, '[')
	for _, p := range finish {
		if !p.State.Final() && p.State != queue.StatePending { // a hand-back may end cancelled
			continue
		}
		if len(ids) > 1 {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, p.ID, 10)
	}
	if len(ids) == 1 {
		return nil, nil
	}
	ids = append(ids, ']')
	found, err := queryIDs(ctx, k, waitedOnJobs, string(ids))
	if err != nil {
		return nil, err
	}
	waited := make(map[int64]bool, len(found))
	for _, id := range found {
		waited[id] = true
	}
	return waited, nil
}

// claim claims up to params.Limit ready jobs: in one statement when no
// queue is paused or limited, else picked one by one within the limits.
// next is when a rate limit that held back a ready job lets one start
// (zero if none did): a worker must look again then, as no write of
// another process will tell it.
func (s *Store) claim(ctx context.Context, tx *sql.Tx, params queue.JobClaimParams) (jobs []*queue.Job, next time.Time, err error) {
	now := ms(params.Now)
	set := []any{params.Worker, ms(params.LeaseUntil), now, now}
	filter, filterArgs := queueFilter(params.Queues)
	allow, frees, err := allowances(ctx, keptTx{s, tx}, params.Now)
	if err != nil {
		return nil, next, err
	}
	if len(allow) == 0 {
		args := append(append(set, now), filterArgs...)
		jobs, err := s.queryJobs(ctx, keptTx{s, tx}, fmt.Sprintf(claimJobs, filter, params.Limit), args...)
		return jobs, next, err
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(readyJobs, filter), append([]any{now}, filterArgs...)...)
	if err != nil {
		return nil, next, interpretError(err)
	}
	var ids []any
	for rows.Next() && len(ids) < params.Limit {
		var id int64
		var q string
		if err := rows.Scan(&id, &q); err != nil {
			rows.Close()
			return nil, next, err
		}
		if n, limited := allow[q]; limited {
			if n <= 0 {
				if at, ok := frees[q]; ok && (next.IsZero() || at.Before(next)) {
					next = at
				}
				continue
			}
			allow[q] = n - 1
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, next, interpretError(err)
	}
	if len(ids) == 0 {
		return nil, next, nil
	}
	jobs, err = s.queryJobs(ctx, tx, fmt.Sprintf(claimIDs, placeholders(len(ids))), append(set, ids...)...)
	return jobs, next, err
}

// allowances says how many jobs each paused or limited queue may start
// now, across all workers: 0 when paused, else what its concurrency and
// rate limits leave. Queues without settings are not in the map. frees
// says, for a queue whose rate limit is used up, when the oldest start of
// its period leaves it.
func allowances(ctx context.Context, tx keptTx, now time.Time) (allow map[string]int, frees map[string]time.Time, err error) {
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
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs
				WHERE state = 'running' AND queue = ?`, q.Name).Scan(&running); err != nil {
				return nil, nil, interpretError(err)
			}
			n = q.Concurrency - running
		}
		if q.Rate > 0 {
			var started int
			var oldest sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT count(*), min(started_at) FROM jobs
				WHERE queue = ? AND started_at > ?`, q.Name, ms(now.Add(-q.RatePeriod))).Scan(&started, &oldest); err != nil {
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

// queueFilter is the SQL condition for a claim's queues, and its arguments.
func queueFilter(queues []string) (string, []any) {
	if len(queues) == 0 {
		return "", nil
	}
	args := make([]any, len(queues))
	for i, q := range queues {
		args[i] = q
	}
	return "AND queue IN (" + placeholders(len(queues)) + ")", args
}
