package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// clearProgress ends the progress an earlier attempt reported.
const clearProgress = ", progress = NULL, progress_message = NULL, progress_at = NULL"

// claimSet is what a claim does to a job, whichever way it was picked:
// running, an attempt counted and a run begun (jobs_claimed opens its
// attempts row), the worker's lease, and the progress of an earlier run
// cleared. It flips counted: the claim counts its jobs itself (counts).
// Its arguments: worker, lease_until, started_at, updated_at.
const claimSet = `UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = ?, lease_until = ?, started_at = ?, updated_at = ?, counted = 1 - counted` + clearProgress

// claimIDs claims the jobs picked, their IDs bound as one JSON array: one
// statement, kept, however many there are.
const claimIDs = claimSet + `
WHERE id IN (SELECT value FROM json_each(?))
RETURNING ` + jobColumns

// readyQueues lists the queues that hold ready jobs, from job_counts:
// the queues a claim looks into, and the search for the next run time.
// The %s is the claim's queue filter.
var readyQueues = `SELECT queue, state FROM job_counts
WHERE state IN (` + sqlStates(queue.ReadyStates) + `) AND n > 0 %s
ORDER BY queue, state`

// A queue's ready jobs whose time has come are read in claim order one
// priority at a time, highest first: within a priority, jobs_ready (queue,
// priority DESC, run_at, id) holds them before the jobs that wait for
// later, a range that ends at now; reading the queue's whole range in
// order instead passed over every job waiting for later at a higher
// priority than the first due one, at every claim (TestNextRunVisitsOneQueue).
// topLevel finds the queue's highest priority, nextLevel the next one
// below a priority: one seek each. levelHead reads the first due jobs of
// one priority, each with whether its claim would use its last attempt
// (queue.JobClaimParams.Ahead); the %d is the limit, written in, not
// bound: SQLite compiles a statement again when a value is bound to a
// parameter its plan used, as a LIMIT's is (docs/performance.md).
// Nothing names an index (TestClaimQueryPlans); queue and priority are
// matched by IN (?): with = ? beside an ORDER BY or a max(), SQLite
// compiled the kept statement again whenever a value was bound to it
// (TestKeptStatementsStayCompiled).
var (
	topLevel  = `SELECT max(priority) FROM jobs WHERE ` + readyCondition + ` AND queue IN (?)`
	nextLevel = topLevel + ` AND priority < ?`
	levelHead = `SELECT id, run_at, state, attempts + 1 >= max_attempts FROM jobs
WHERE ` + readyCondition + ` AND queue IN (?) AND priority IN (?) AND run_at <= ?
ORDER BY run_at, id LIMIT %d`
)

// nextRunQuery finds when the first of a queue's jobs in ready state st
// whose time has not come falls due: the head of the range of
// jobs_queue_ready after now, one seek whatever the queue holds. The
// state is written in: bound, SQLite compiled the kept statement again
// at every use (TestKeptStatementsStayCompiled).
func nextRunQuery(st string) string {
	return `SELECT min(run_at) FROM jobs
WHERE ` + readyCondition + ` AND queue IN (?) AND state = '` + st + `' AND run_at > ?`
}

// dueQuery finds whether a queue holds a job in ready state st whose time
// has come: the head of its range of jobs_queue_ready, however many wait
// for later. The state is written in, as in nextRunQuery.
func dueQuery(st string) string {
	return `SELECT 1 FROM jobs
WHERE ` + readyCondition + ` AND queue IN (?) AND state = '` + st + `' AND run_at <= ? LIMIT 1`
}

// finishSizes are the numbers of outcomes one statement records
// (finishJobsSQL): outcomes go in statements of the largest size, and the
// rest in one of the smallest size that holds them, its spare rows NULL,
// which match no job. So a few statements, kept, record any number, and a
// runner's batch of outcomes costs one statement, not one a job: SQLite
// copies every page a statement changes to its statement journal once per
// statement, and a statement's IN lists (the partial indexes') are built
// once per statement (docs/performance.md, issue 10, third session).
var finishSizes = []int{1, 4, 16, 64}

// outcomeColumns are the values of an outcome in finishJobsSQL, in order.
const outcomeColumns = 10

// finishJobsSQL records rows outcomes, fenced by each job's run (the job
// of a worker that no longer held it is left as it is), and returns the
// ID, queue and new state of each job it changed, for the caller to
// count: it flips counted (counts). Its values per outcome: ID, run,
// state, attempts, run_at (NULL keeps it), finished_at, exit code,
// signal, error, updated_at.
func finishJobsSQL(rows int) string {
	return `UPDATE jobs SET state = v.column3, attempts = v.column4, run_at = coalesce(v.column5, jobs.run_at),
	finished_at = v.column6, exit_code = v.column7, signal = v.column8, last_error = v.column9, updated_at = v.column10,
	worker = NULL, lease_until = NULL, cancel_requested = 0, counted = 1 - jobs.counted
FROM (VALUES ` + valuesRows(rows, outcomeColumns) + `) AS v
WHERE jobs.id = v.column1 AND jobs.run = v.column2 AND jobs.state = 'running'
RETURNING jobs.id, jobs.queue, jobs.state`
}

// attemptEndColumns are the values of an attempt's end in finishAttemptsSQL.
const attemptEndColumns = 8

// finishAttemptsSQL records the ends of rows attempts: job ID, run,
// finished_at, exit code, signal, error, output, output size. An outcome
// without output (a lost worker's job) keeps the output its worker last
// flushed.
func finishAttemptsSQL(rows int) string {
	return `UPDATE attempts SET finished_at = v.column3, exit_code = v.column4, signal = v.column5,
	error = v.column6, output = coalesce(v.column7, attempts.output), output_size = coalesce(v.column8, attempts.output_size)
FROM (VALUES ` + valuesRows(rows, attemptEndColumns) + `) AS v
WHERE attempts.job_id = v.column1 AND attempts.run = v.column2`
}

// valuesRows is rows rows of columns placeholders each, for VALUES.
func valuesRows(rows, columns int) string {
	row := "(" + placeholders(columns) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// finishStatements are the statements that record n outcomes: those of
// the sizes up to the largest that n needs. Compiling one of 64 rows,
// its triggers included, costs as much as recording dozens of outcomes:
// a runner of one slot keeps only the smallest.
func finishStatements(n int) []string {
	var out []string
	for _, size := range finishSizes {
		if n > 0 && size <= finishSize(n) {
			out = append(out, finishJobsSQL(size), finishAttemptsSQL(size))
		}
	}
	return out
}

// finishSize is the size of the statement that records the first of n
// outcomes: the largest, or the smallest that holds them all.
func finishSize(n int) int {
	for _, size := range finishSizes {
		if size >= n {
			return size
		}
	}
	return finishSizes[len(finishSizes)-1]
}

// cancelRequested reads, for a job handed back after its command ran,
// whether jobq cancel asked to stop it: it then ends cancelled
// (queue.JobFinishParams).
const cancelRequested = `SELECT cancel_requested FROM jobs WHERE id = ? AND run = ? AND state = 'running'`

// unclaimJob undoes the claim of a job whose command never started
// (queue.JobFinishParams.Unstarted): run, attempts and started_at back to
// what they were before it, counted flipped (the caller counts it);
// unclaimAttempt deletes the attempt's row. The job goes back to retrying
// if its claim took it from there, to pending otherwise (a scheduled job
// whose time came reads as pending). The claim's event is the job's last
// into running from another state (events_job, read from the newest),
// not always its last event: a skipped tick of its schedule (--overlap
// skip) logs running to running on it (HandBackAfterSkippedTick). Only a
// new job's event has no from_state, and no job is inserted running. It
// ends cancelled, finished at ?2, if the worker says so (?1, its error
// ?4) or if jobq cancel asked for it, which the statement reads itself
// (the error ?3), with no query before it. Its arguments: ?1 the state
// handed back (pending or cancelled), ?2 the time, ?3
// queue.ErrCancelled's text, ?4 the error, ?5 the ID, ?6 the run.
const unclaimJob = `UPDATE jobs SET state = CASE
		WHEN ?1 = 'cancelled' OR cancel_requested THEN 'cancelled'
		WHEN (SELECT e.from_state FROM events e WHERE e.job_id = jobs.id AND e.to_state = 'running' AND e.from_state IS NOT 'running'
			ORDER BY e.id DESC LIMIT 1) = 'retrying' THEN 'retrying'
		ELSE 'pending' END,
	attempts = attempts - 1, run = run - 1,
	started_at = (SELECT a.started_at FROM attempts a WHERE a.job_id = jobs.id AND a.run = jobs.run - 1),
	finished_at = CASE WHEN ?1 = 'cancelled' OR cancel_requested THEN ?2 ELSE finished_at END,
	last_error = CASE WHEN cancel_requested THEN ?3 ELSE ?4 END, updated_at = ?2,
	worker = NULL, lease_until = NULL, cancel_requested = 0, counted = 1 - counted
WHERE id = ?5 AND run = ?6 AND state = 'running'
RETURNING queue, state`

const unclaimAttempt = `DELETE FROM attempts WHERE job_id = ? AND run = ?`

// dataVersion reads the writer connection's data_version (see Store.seen).
const dataVersion = "PRAGMA data_version"

// expiredJobs finds the running jobs of lost workers, 100 at most a
// claim (the limit is written in, as in levelHead). It names jobs_lease:
// without statistics the planner prefers jobs_state and reads every
// running job to find the few whose lease ended.
const expiredJobs = "SELECT " + jobColumns + ` FROM jobs INDEXED BY jobs_lease
	WHERE state = 'running' AND lease_until < ? LIMIT 100`

// JobClaim takes back the jobs of lost workers, records outcomes and
// claims jobs, in one transaction; see queue.Store.
func (s *Store) JobClaim(ctx context.Context, params queue.JobClaimParams) (*queue.JobClaimResult, error) {
	filter, _ := queueFilter(params.Queues)
	kept := []string{expiredJobs, waitedOnJobs, dependents, releaseJob, cancelDependent,
		queueSettingsQuery, fmt.Sprintf(readyQueues, filter), topLevel, nextLevel, fmt.Sprintf(levelHead, params.Limit), claimIDs, dataVersion}
	kept = append(kept, finishStatements(len(params.Finish))...)
	kept = append(kept, countJobs, countEnds)
	for _, st := range queue.ReadyStates {
		kept = append(kept, nextRunQuery(string(st)))
	}
	if err := s.prepare(ctx, kept...); err != nil {
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
		if res.Expired, err = s.expiredLeases(ctx, k, params); err != nil {
			return nil, fmt.Errorf("find expired leases: %w", err)
		}
		if _, _, err := s.finishJobs(ctx, tx, res.Expired); err != nil {
			return nil, err
		}
	}
	if res.Lost, res.Cancelled, err = s.finishJobs(ctx, tx, params.Finish); err != nil {
		return nil, err
	}
	if params.Limit > 0 {
		ready, err := readyStates(ctx, k, params.Queues)
		if err != nil {
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		var rateNext time.Time
		if res.Jobs, res.Unreadable, rateNext, err = s.claim(ctx, tx, params, ready); err != nil {
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		if _, _, err := s.finishJobs(ctx, tx, res.Unreadable); err != nil {
			return nil, err
		}
		if len(res.Jobs) < params.Limit {
			if res.NextRunAt, err = nextRunAt(ctx, k, ready, now); err != nil {
				return nil, err
			}
			if !rateNext.IsZero() && (res.NextRunAt.IsZero() || rateNext.Before(res.NextRunAt)) {
				res.NextRunAt = rateNext
			}
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

// runAttempts reads the run and attempts of a job, whose other columns
// may be unreadable.
const runAttempts = `SELECT run, attempts FROM jobs WHERE id = ?`

// endUnreadableJob ends dead a running job whose run or attempts cannot
// be read, fenced by its state and its lease (?4: ended before the
// take-back's now, or the claim's own) instead of its run: attempts kept
// if it is a number, else 0; its open attempt is then ended
// (endOpenAttempts). The
// counting triggers count it (counted is not flipped). Its arguments: ?1
// the time, ?2 the error, ?3 the ID, ?4 the lease's end.
const endUnreadableJob = `UPDATE jobs SET state = 'dead',
	attempts = CASE WHEN typeof(attempts) = 'integer' THEN attempts ELSE 0 END,
	finished_at = ?1, last_error = ?2, updated_at = ?1, worker = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ?3 AND state = 'running' AND lease_until <= ?4`

// expiredLeases decides the outcomes of the running jobs whose lease
// ended before params.Now (params.Expired). A job whose row cannot be
// decoded ends dead (queue.Unreadable): one bad row is an error about its
// job, not one that stops every worker's claims at each pass.
func (s *Store) expiredLeases(ctx context.Context, k keptTx, params queue.JobClaimParams) ([]queue.JobFinishParams, error) {
	var out []queue.JobFinishParams
	var unreadable []*unreadableError
	err := eachRow(ctx, k, expiredJobs, []any{ms(params.Now)}, func(rows *sql.Rows) error {
		job, err := scanJob(rows)
		if bad, ok := errors.AsType[*unreadableError](err); ok {
			unreadable = append(unreadable, bad)
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, params.Expired(job))
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, bad := range unreadable {
		p, err := s.unreadableOutcome(ctx, k, bad, params.Now, params.Now, queue.Unreadable)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// unreadableOutcome decides, by decide, the outcome of bad, a running job whose
// row cannot be decoded, from its run and attempts read alone, for
// finishJobs to record, fenced by that run. If they cannot be read
// either, it ends the job itself (endUnreadableJob, lease ended by
// leaseEnd) and settles its dependents: the outcome it returns, at run 0,
// then finds the job ended, as one lost.
func (s *Store) unreadableOutcome(ctx context.Context, k keptTx, bad *unreadableError, now, leaseEnd time.Time,
	decide func(queue.JobRef, int, time.Time, error) queue.JobFinishParams) (queue.JobFinishParams, error) {
	var run, attempts int64
	err := k.QueryRowContext(ctx, runAttempts, bad.id).Scan(&run, &attempts)
	if err == nil {
		return decide(queue.JobRef{ID: bad.id, Run: int(run)}, int(attempts), now, bad), nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return queue.JobFinishParams{}, fmt.Errorf("%w (and its run: %w)", bad, interpretError(err))
	}
	p := decide(queue.JobRef{ID: bad.id}, 0, now, fmt.Errorf("%w (and its run: %w)", bad, err))
	r, err := k.ExecContext(ctx, endUnreadableJob, ms(now), p.Error, bad.id, ms(leaseEnd))
	if err != nil {
		return p, interpretError(fmt.Errorf("end job %d: %w", bad.id, err))
	}
	if n, _ := r.RowsAffected(); n > 0 {
		// Its open attempt ends with it: `jobq logs -f` would wait for
		// it for ever, and show would list it running.
		if _, err := k.ExecContext(ctx, endOpenAttempts, ms(now), p.Error, bad.id); err != nil {
			return p, interpretError(fmt.Errorf("end job %d's attempt: %w", bad.id, err))
		}
		if _, err := s.settleDependents(ctx, k.tx, ms(now), []ended{{id: bad.id, state: queue.StateDead}}); err != nil {
			return p, err
		}
	}
	return p, nil
}

// endOpenAttempts ends the attempts of job ?3 still open at ?1, with
// error ?2: those of a job endUnreadableJob ended.
const endOpenAttempts = `UPDATE attempts SET finished_at = ?1, error = ?2 WHERE job_id = ?3 AND finished_at IS NULL`

// queueState is a queue and one of its ready states that holds jobs.
type queueState struct{ queue, state string }

// readyStates lists the queues among queues (all when none) that hold
// ready jobs, with those states, from job_counts: what a claim looks
// into costs one row per queue and state, not per job.
func readyStates(ctx context.Context, k keptTx, queues []string) ([]queueState, error) {
	filter, args := queueFilter(queues)
	var out []queueState
	err := eachRow(ctx, k, fmt.Sprintf(readyQueues, filter), args, func(rows *sql.Rows) error {
		var qs queueState
		if err := rows.Scan(&qs.queue, &qs.state); err != nil {
			return err
		}
		out = append(out, qs)
		return nil
	})
	return out, err
}

// nextRunAt is when the first of the ready jobs of ready whose time has
// not come falls due (zero if none waits): the least of one seek per
// queue and state.
func nextRunAt(ctx context.Context, k keptTx, ready []queueState, now int64) (time.Time, error) {
	var next time.Time
	for _, qs := range ready {
		var at sql.NullInt64
		if err := k.QueryRowContext(ctx, nextRunQuery(qs.state), qs.queue, now).Scan(&at); err != nil {
			return time.Time{}, interpretError(err)
		}
		if t := fromNullMS(at); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, nil
}

// finishJobs records outcomes, fenced by each job's run, settles the jobs
// waiting for those that ended, and returns the IDs of the jobs whose
// worker no longer held them, and of those handed back (pending) that
// it ended cancelled, their cancel requested. A busy worker records many
// outcomes in one call: consecutive outcomes are recorded by one
// statement (finishSizes), and one query (waitedOn) says which of the
// jobs have others waiting for them, so that the rest cost no dependents
// query each (a third of a claim's time, profiled). The events are logged in the order of finish,
// each job's dependents settled right after its end, as if each outcome
// were recorded alone: a statement updates its jobs in ID order, so a run
// of outcomes recorded together is one of rising job IDs (a runner's
// outcomes mostly come in the order of its claims), and it ends at a job
// that others wait for and at a hand-back. A job's second outcome in one
// call (its ID not above the one before) starts a new run, as it must be
// recorded after the first, to be found lost.
func (s *Store) finishJobs(ctx context.Context, tx *sql.Tx, finish []queue.JobFinishParams) (lost, cancelled []int64, err error) {
	if len(finish) == 0 {
		return nil, nil, nil
	}
	k := keptTx{s, tx}
	waited, err := waitedOn(ctx, k, finish)
	if err != nil {
		return nil, nil, err
	}
	var run []queue.JobFinishParams // outcomes not yet recorded
	flush := func() ([]int64, error) {
		if len(run) == 0 {
			return nil, nil
		}
		l, err := s.recordOutcomes(ctx, k, run)
		lost = append(lost, l...)
		run = run[:0]
		return l, err
	}
	for _, p := range finish {
		if p.State == queue.StatePending || p.Unstarted || len(run) > 0 && p.ID <= run[len(run)-1].ID {
			if _, err := flush(); err != nil {
				return nil, nil, err
			}
		}
		back := p.State == queue.StatePending
		if back && !p.Unstarted {
			if p, err = s.handBack(ctx, tx, p); err != nil {
				return nil, nil, err
			}
			if p.State == queue.StateCancelled {
				cancelled = append(cancelled, p.ID) // held: handBack read it
			}
		}
		if p.Unstarted {
			found, err := s.unclaim(ctx, tx, &p)
			if err != nil {
				return nil, nil, err
			}
			if !found {
				lost = append(lost, p.ID)
				continue
			}
			if back && p.State == queue.StateCancelled {
				cancelled = append(cancelled, p.ID)
			}
			if p.State.Final() && waited[p.ID] {
				if _, err := s.settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		run = append(run, p)
		if p.State.Final() && waited[p.ID] {
			l, err := flush()
			if err != nil {
				return nil, nil, err
			}
			if !slices.Contains(l, p.ID) {
				if _, err := s.settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if _, err := flush(); err != nil {
		return nil, nil, err
	}
	return lost, cancelled, nil
}

// recordOutcomes records outcomes, none of them a hand-back and no job
// twice, in statements of finishSizes, and returns the IDs of the jobs
// whose worker no longer held them, in the order of outcomes.
func (s *Store) recordOutcomes(ctx context.Context, k keptTx, outcomes []queue.JobFinishParams) (lost []int64, err error) {
	for len(outcomes) > 0 {
		size := finishSize(len(outcomes))
		part := outcomes[:min(size, len(outcomes))]
		outcomes = outcomes[len(part):]
		args := make([]any, 0, size*outcomeColumns)
		for _, p := range part {
			var finished any
			if p.State.Final() {
				finished = ms(p.FinishedAt)
			}
			args = append(args, p.ID, p.Run, string(p.State), p.Attempts, msOrNull(p.RunAt),
				finished, p.ExitCode, nullString(p.Signal), nullString(p.Error), ms(p.FinishedAt))
		}
		args = append(args, make([]any, cap(args)-len(args))...)
		var held []int64
		var c counts
		err := eachRow(ctx, k, finishJobsSQL(size), args, func(rows *sql.Rows) error {
			var id int64
			var q, st string
			if err := rows.Scan(&id, &q, &st); err != nil {
				return err
			}
			held = append(held, id)
			c.move(q, string(queue.StateRunning), st)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("finish jobs: %w", err)
		}
		if err := c.apply(ctx, k); err != nil {
			return nil, err
		}
		ends := make([]any, 0, len(held)*attemptEndColumns)
		for _, p := range part {
			if !slices.Contains(held, p.ID) {
				lost = append(lost, p.ID)
				continue
			}
			var size any
			if p.Output != nil {
				size = p.OutputSize
			}
			ends = append(ends, p.ID, p.Run, ms(p.FinishedAt), p.ExitCode,
				nullString(p.Signal), nullString(p.Error), p.Output, size)
		}
		for len(ends) > 0 {
			size := finishSize(len(ends) / attemptEndColumns)
			n := min(size*attemptEndColumns, len(ends))
			args := append(ends[:n:n], make([]any, size*attemptEndColumns-n)...)
			ends = ends[n:]
			if _, err := k.ExecContext(ctx, finishAttemptsSQL(size), args...); err != nil {
				return nil, interpretError(fmt.Errorf("finish attempts: %w", err))
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
// claim, and says whether the worker still held the job; p.State becomes
// the state the job went back to, or cancelled (unclaimJob).
func (s *Store) unclaim(ctx context.Context, tx *sql.Tx, p *queue.JobFinishParams) (bool, error) {
	k := keptTx{s, tx}
	var q, st string
	err := k.QueryRowContext(ctx, unclaimJob, string(p.State), ms(p.FinishedAt), queue.ErrCancelled.Error(),
		nullString(p.Error), p.ID, p.Run).Scan(&q, &st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	p.State = queue.State(st)
	var c counts
	c.move(q, string(queue.StateRunning), st)
	if err := c.apply(ctx, k); err != nil {
		return false, err
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

// claim claims up to params.Limit ready jobs of the queues of ready, in
// claim order (priority, then run_at, then ID) across them, within each
// queue's limits: it reads the head of each queue that may start a job,
// at most as many jobs as that queue may start, and claims the first of
// them all. A paused queue, or a limited one that may start no job now,
// is not read at all, however many jobs it holds. next is when a rate
// limit that held back a job whose time had come lets one start (zero if
// none did): a worker must look again then, as no write of another
// process will tell it.
func (s *Store) claim(ctx context.Context, tx *sql.Tx, params queue.JobClaimParams, ready []queueState) (jobs []*queue.Job, unreadable []queue.JobFinishParams, next time.Time, err error) {
	k := keptTx{s, tx}
	now := ms(params.Now)
	allow, frees, err := allowances(ctx, k, params.Now)
	if err != nil {
		return nil, nil, next, err
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
					due, err := anyDue(ctx, k, q, states, now)
					if err != nil {
						return nil, nil, next, err
					}
					if due {
						next = at
					}
				}
				continue
			}
			limit = min(limit, n)
		}
		if heads, err = queueHeads(ctx, k, heads, q, limit, now); err != nil {
			return nil, nil, next, err
		}
	}
	if len(heads) == 0 {
		return nil, nil, next, nil
	}
	slices.SortFunc(heads, func(a, b head) int {
		return cmp.Or(cmp.Compare(b.priority, a.priority), cmp.Compare(a.runAt, b.runAt), cmp.Compare(a.id, b.id))
	})
	n := min(len(heads), params.Limit)
	for i := max(params.Limit-params.Ahead, 0); i < n; i++ {
		if heads[i].last { // not claimed ahead (queue.JobClaimParams.Ahead)
			n = i
		}
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = heads[i].id
	}
	idList, err := json.Marshal(ids)
	if err != nil {
		return nil, nil, next, err
	}
	// A row that cannot be decoded (bad data) is claimed with the others,
	// and ended dead below: it is not to fail every claim.
	var bad []*unreadableError
	err = eachRow(ctx, k, claimIDs, []any{params.Worker, ms(params.LeaseUntil), now, now, string(idList)}, func(rows *sql.Rows) error {
		job, err := scanJob(rows)
		if b, ok := errors.AsType[*unreadableError](err); ok {
			bad = append(bad, b)
			return nil
		}
		if err == nil {
			jobs = append(jobs, job)
		}
		return err
	})
	if err != nil {
		return nil, nil, next, err
	}
	var c counts
	for _, h := range heads[:len(ids)] {
		c.move(h.queue, h.state, string(queue.StateRunning))
	}
	if err := c.apply(ctx, k); err != nil {
		return nil, nil, next, err
	}
	for _, b := range bad {
		p, err := s.unreadableOutcome(ctx, k, b, params.Now, params.LeaseUntil, queue.UnreadableClaimed)
		if err != nil {
			return nil, nil, next, err
		}
		unreadable = append(unreadable, p)
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(jobs, func(a, b *queue.Job) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.RunAt.Compare(b.RunAt), cmp.Compare(a.ID, b.ID))
	})
	return jobs, unreadable, next, nil
}

// head is a job a claim may take, and its place in the claim order.
type head struct {
	id, priority, runAt int64
	queue, state        string // which the claim counts it out of (counts)
	last                bool   // its claim would use its last attempt
}

// queueHeads appends to heads the first limit ready jobs of queue q whose
// time has come, in claim order: the due jobs of each priority of the
// queue, highest first, until it has limit of them (see topLevel).
func queueHeads(ctx context.Context, k keptTx, heads []head, q string, limit int, now int64) ([]head, error) {
	var level sql.NullInt64
	if err := k.QueryRowContext(ctx, topLevel, q).Scan(&level); err != nil {
		return nil, interpretError(err)
	}
	for want := len(heads) + limit; level.Valid; {
		err := eachRow(ctx, k, fmt.Sprintf(levelHead, want-len(heads)), []any{q, level.Int64, now}, func(rows *sql.Rows) error {
			h := head{priority: level.Int64, queue: q}
			if err := rows.Scan(&h.id, &h.runAt, &h.state, &h.last); err != nil {
				return err
			}
			heads = append(heads, h)
			return nil
		})
		if err != nil || len(heads) == want {
			return heads, err
		}
		if err := k.QueryRowContext(ctx, nextLevel, q, level.Int64).Scan(&level); err != nil {
			return nil, interpretError(err)
		}
	}
	return heads, nil
}

// anyDue says whether a job of queue q in one of states has come to its
// time, by one seek per state (dueQuery).
func anyDue(ctx context.Context, k keptTx, q string, states []queueState, now int64) (bool, error) {
	for _, qs := range states {
		err := k.QueryRowContext(ctx, dueQuery(qs.state), q, now).Scan(new(int))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, interpretError(err)
		}
	}
	return false, nil
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
			if err := tx.QueryRowContext(ctx, runningCount, q.Name).Scan(&running); err != nil {
				return nil, nil, interpretError(err)
			}
			n = q.Concurrency - running
		}
		if q.Rate > 0 {
			var started int
			var oldest sql.NullInt64
			if err := tx.QueryRowContext(ctx, startedSince, q.Name, ms(now.Add(-q.RatePeriod))).Scan(&started, &oldest); err != nil {
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

// runningCount counts a queue's running jobs, from job_counts: counted by
// an index, they were every job of the queue (jobs_queue) or every
// running job (jobs_state).
const runningCount = `SELECT coalesce(sum(n), 0) FROM job_counts WHERE queue = ? AND state = 'running'`

// startedSince counts the jobs of a queue started since a time, and finds
// the first of them, from jobs_started (TestClaimQueryPlans).
const startedSince = `SELECT count(*), min(started_at) FROM jobs WHERE queue = ? AND started_at > ?`

// queueFilter is the SQL condition for a claim's queues, and its arguments.
func queueFilter(queues []string) (string, []any) { return columnIn("queue", queues) }

// columnIn is the condition "AND column IN (queues...)" and its
// arguments; none when queues is empty.
func columnIn(column string, queues []string) (string, []any) {
	if len(queues) == 0 {
		return "", nil
	}
	args := make([]any, len(queues))
	for i, q := range queues {
		args[i] = q
	}
	return "AND " + column + " IN (" + placeholders(len(queues)) + ")", args
}

// counts are the changes to job_counts and job_ends of one statement that
// moves jobs into or out of running: the claim, the finish and the
// hand-back of a job never started. These statements flip the jobs'
// counted column, which tells the counting triggers to leave them alone
// (migration 0004), and count their transitions themselves, one upsert
// per queue and state, in the transaction that makes them, before
// anything reads the counts. Counted by the triggers, a row at a time,
// they were 8% of SQLite's instructions in a claim and finish of 100
// jobs. Every statement that does not flip counted (another command's,
// or the claim and finish of a jobq started before 0004) is counted by
// the triggers.
type counts struct {
	n    map[[2]string]int // by queue and state: jobs in
	ends map[[2]string]int // by queue and final state: jobs ended
}

// move counts a job of queue q moved from state from to state to.
func (c *counts) move(q, from, to string) {
	if from == to {
		return
	}
	if c.n == nil {
		c.n, c.ends = map[[2]string]int{}, map[[2]string]int{}
	}
	c.n[[2]string{q, from}]--
	c.n[[2]string{q, to}]++
	if queue.State(to).Final() {
		c.ends[[2]string{q, to}]++
	}
}

// apply writes c to job_counts and job_ends.
func (c *counts) apply(ctx context.Context, k keptTx) error {
	for key, n := range c.n {
		if n == 0 {
			continue
		}
		if _, err := k.ExecContext(ctx, countJobs, key[0], key[1], n); err != nil {
			return interpretError(fmt.Errorf("count jobs: %w", err))
		}
	}
	for key, n := range c.ends {
		if _, err := k.ExecContext(ctx, countEnds, key[0], key[1], n); err != nil {
			return interpretError(fmt.Errorf("count ended jobs: %w", err))
		}
	}
	return nil
}

// countEnds adds n jobs ended in a final state to job_ends.
const countEnds = `INSERT INTO job_ends (queue, state, n) VALUES (?, ?, ?)
	ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`
