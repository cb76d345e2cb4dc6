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
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jobq/jobq/internal/queue"
)

// clearProgress ends the progress an earlier attempt reported.
const clearProgress = ", progress = NULL, progress_message = NULL, progress_at = NULL"

// claimSet is what a claim does to a job (see the sqlite store's); its
// arguments are $1 worker, $2 lease_until, $3 started_at and updated_at.
const claimSet = `UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = $1, lease_until = $2, started_at = $3, updated_at = $3` + clearProgress

// claimReady claims, in one statement, the first $5 jobs in claim order
// among the heads of the queues among $4 (NULL: every queue) that hold
// ready jobs (job_counts), only jobs whose time ($3) has come: each
// queue's head is read from jobs_ready (queue, priority DESC, run_at,
// id), at most as many jobs as the queue may start: its allowance ($7,
// by name in $6; 0 for a paused one) for a queue $6 names, $5 for
// another. With $6 NULL (allowances not counted yet: JobClaim's first
// batch) it claims nothing at all if a queue with a setting holds ready
// jobs, or if one of jobs $8, ending in this transaction, has jobs
// waiting for it (settling them may make jobs ready first): the claim
// is then made again (claim).
//
// Past the first $5 - $9 of them ($9: queue.JobClaimParams.Ahead), it
// stops at a job whose claim would use its last attempt.
//
// SKIP LOCKED passes over a job whose row another transaction holds
// rather than waiting for it. Unlike the SQLite store's, it reads a
// queue's priorities in one range: jobs waiting for later at a higher
// priority than the first due one are passed over. The claimed jobs are
// found by ID in an array, which a generic plan (it cannot know $5)
// reads through the primary key as a custom one does.
var claimReady = `WITH ready AS (
	SELECT c.queue, q.name IS NOT NULL AS set, coalesce(a.n, $5::bigint) AS n
	FROM (SELECT DISTINCT queue FROM job_counts
		WHERE state IN (` + sqlStates(queue.ReadyStates) + `) AND n > 0 AND ($4::text[] IS NULL OR queue = ANY($4))) c
	LEFT JOIN queues q ON q.name = c.queue
	LEFT JOIN unnest($6::text[], $7::bigint[]) AS a (queue, n) ON a.queue = c.queue
), heads AS (
	SELECT h.id AS head_id, h.last, row_number() OVER (ORDER BY h.priority DESC, h.run_at, h.id) AS rn FROM ready
	CROSS JOIN LATERAL (SELECT id, priority, run_at, attempts + 1 >= max_attempts AS last FROM jobs
		WHERE ` + readyCondition + ` AND queue = ready.queue AND run_at <= $3
		ORDER BY priority DESC, run_at, id
		LIMIT ready.n
		FOR UPDATE SKIP LOCKED) h
	WHERE ready.n > 0 AND ($6::text[] IS NOT NULL OR NOT EXISTS (SELECT FROM ready WHERE set)
		AND NOT EXISTS (SELECT FROM job_deps WHERE depends_on = ANY ($8::bigint[])))
	ORDER BY h.priority DESC, h.run_at, h.id
	LIMIT $5
)
` + claimSet + `
WHERE id = ANY (ARRAY(SELECT head_id FROM heads
	WHERE rn <= $5 - $9::bigint OR rn < ALL (SELECT rn FROM heads WHERE last AND rn > $5 - $9::bigint)))
RETURNING ` + jobColumns

// waitedOn says whether one of jobs $1 has jobs waiting for it (by
// job_deps_depends_on), as claimReady's guard reads it.
const waitedOn = `SELECT EXISTS (SELECT FROM job_deps WHERE depends_on = ANY ($1::bigint[]))`

// readyQueues lists the queues among $1 (NULL: every queue) that hold
// ready jobs, with those states, from job_counts: what a claim looks
// into costs a row per queue and state, not per job. Each says whether
// its queue has a setting (a row in queues: paused or limited), whose
// allowance the claim must then count.
var readyQueues = `SELECT c.queue, c.state, q.name IS NOT NULL FROM job_counts c LEFT JOIN queues q ON q.name = c.queue
WHERE c.state IN (` + sqlStates(queue.ReadyStates) + `) AND c.n > 0 AND ($1::text[] IS NULL OR c.queue = ANY($1))
ORDER BY c.queue, c.state`

// nextRun finds when the first of the ready jobs of the queues among
// $1 (NULL: every queue) whose time has not come ($2) falls due: one
// seek of jobs_queue_ready (queue, state, run_at) per queue and ready
// state that holds jobs (job_counts), whatever the queues hold.
var nextRun = `SELECT min(r.at) FROM job_counts c
CROSS JOIN LATERAL (SELECT min(run_at) AS at FROM jobs
	WHERE ` + readyCondition + ` AND queue = c.queue AND state = c.state AND run_at > $2) r
WHERE c.state IN (` + sqlStates(queue.ReadyStates) + `) AND c.n > 0 AND ($1::text[] IS NULL OR c.queue = ANY($1))`

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

// cancelRequested reads, for a job handed back after its command ran,
// whether jobq cancel asked to stop it: it then ends cancelled
// (queue.JobFinishParams).
const cancelRequested = `SELECT cancel_requested FROM jobs WHERE id = $1 AND run = $2 AND state = 'running'`

// unclaimJob undoes the claim of a job whose command never started
// (queue.JobFinishParams.Unstarted): run, attempts and started_at back to
// what they were before it; unclaimAttempt deletes the attempt's row. As
// the sqlite store's, it puts the job back in retrying if its claim (the
// job's last event into running from another state: a skipped tick of
// its schedule logs running to running after it) took it from there, in
// pending otherwise, and ends it cancelled if $1 says so or jobq cancel
// asked for it. Its arguments: $1 the state handed back, $2 the time, $3
// queue.ErrCancelled's text, $4 the error, $5 the ID, $6 the run.
const unclaimJob = `UPDATE jobs SET state = CASE
		WHEN $1::text = 'cancelled' OR cancel_requested THEN 'cancelled'
		WHEN (SELECT e.from_state FROM events e WHERE e.job_id = jobs.id AND e.to_state = 'running' AND e.from_state IS DISTINCT FROM 'running'
			ORDER BY e.id DESC LIMIT 1) = 'retrying' THEN 'retrying'
		ELSE 'pending' END,
	attempts = attempts - 1, run = run - 1,
	started_at = (SELECT a.started_at FROM attempts a WHERE a.job_id = jobs.id AND a.run = jobs.run - 1),
	finished_at = CASE WHEN $1::text = 'cancelled' OR cancel_requested THEN $2::bigint ELSE finished_at END,
	last_error = CASE WHEN cancel_requested THEN $3::bytea ELSE $4::bytea END, updated_at = $2::bigint,
	worker = NULL, lease_until = NULL, cancel_requested = false
WHERE id = $5 AND run = $6 AND state = 'running'
RETURNING state`

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

// finishSet records, in one statement, outcomes none of which is a
// hand-back and no two of the same job: each job, fenced by its run, and
// its attempt (an outcome without output keeps the output its worker
// last flushed, as finishAttempt). It returns the jobs it recorded, each
// with whether it ended with jobs waiting for it (job_deps_depends_on).
var finishSet = `WITH v AS (
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
		$6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::bytea[], $11::bytea[], $12::bigint[])
		AS v (id, run, state, attempts, run_at, finished_at, at, exit_code, signal, error, output, output_size)
), j AS (
	UPDATE jobs SET state = v.state, attempts = v.attempts, run_at = coalesce(v.run_at, jobs.run_at),
		finished_at = v.finished_at, exit_code = v.exit_code, signal = v.signal, last_error = v.error,
		updated_at = v.at, worker = NULL, lease_until = NULL, cancel_requested = false
	FROM v WHERE jobs.id = v.id AND jobs.run = v.run AND jobs.state = 'running'
	RETURNING jobs.id, jobs.run, jobs.state
), a AS (
	UPDATE attempts SET finished_at = v.at, exit_code = v.exit_code, signal = v.signal, error = v.error,
		output = coalesce(v.output, attempts.output), output_size = coalesce(v.output_size, attempts.output_size)
	FROM j JOIN v ON v.id = j.id
	WHERE attempts.job_id = j.id AND attempts.run = j.run
)
SELECT j.id, j.state IN (` + finalStates + `) AND EXISTS (SELECT FROM job_deps d WHERE d.depends_on = j.id) FROM j`

// leaseCheck and claimCheck end claimFast's batch (jobq_claim_again,
// SQLSTATE JQ001) when what they find calls for decisions made a step
// at a time. leaseCheck, before the outcomes: with $1 (Expired), a
// lease expired before $2, whose expiry is recorded before any outcome,
// its worker's own included (which is then lost). claimCheck, after
// them: with $3 (a claim), a paused or limited queue among $1 (NULL:
// every queue) holding ready jobs, whose allowance must be counted; a
// job among $2, ending, that jobs wait for, which must be settled.
const leaseCheck = `SELECT jobq_claim_again($1 AND EXISTS (SELECT FROM jobs WHERE state = 'running' AND lease_until < $2))`

var claimCheck = `SELECT jobq_claim_again(
	$3 AND EXISTS (SELECT FROM job_counts c JOIN queues q ON q.name = c.queue
		WHERE c.state IN (` + sqlStates(queue.ReadyStates) + `) AND c.n > 0 AND ($1::text[] IS NULL OR c.queue = ANY ($1)))
	OR EXISTS (SELECT FROM job_deps WHERE depends_on = ANY ($2::bigint[])))`

// claimAgain is the SQLSTATE of leaseCheck and claimCheck.
const claimAgain = "JQ001"

// stepClaims is how many claims a store makes a step at a time after
// claimFast found it had to: a store whose claims keep meeting paused or
// limited queues would otherwise pay for a batch thrown away each time.
const stepClaims = 16

// claimFast makes the claim of params in one round trip: BEGIN, the
// write lock, leaseCheck, the outcomes (finishSet), claimCheck, the
// claim, the next run time, NOTIFY and COMMIT in one batch. It reports
// false, having done nothing, when the claim must be made a step at a
// time (JobClaim): outcomes to record one at a time, or what leaseCheck
// or claimCheck finds.
func (s *Store) claimFast(ctx context.Context, params queue.JobClaimParams, queues []string) (*queue.JobClaimResult, bool, error) {
	f := newFinisher(params.Finish)
	if f.oneByOne() {
		return nil, false, nil
	}
	now := ms(params.Now)
	res := &queue.JobClaimResult{}
	var c claimed
	var next time.Time
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue("SELECT pg_advisory_xact_lock($1, $2)", lockClass, writeLock)
	b.Queue(genericPlans)
	b.Queue(leaseCheck, params.Expired != nil, now)
	f.queue(b)
	b.Queue(claimCheck, queues, f.ending(), params.Limit > 0)
	if params.Limit > 0 {
		// Allowances counted (none: claimCheck saw no queue with a
		// setting), so claimReady's own guard is off.
		queueClaim(b, params, queues, []string{}, []int64{}, nil, &c)
		queueNextRun(b, queues, now, &next)
	}
	b.Queue("SELECT pg_notify($1, $2)", channel, s.token)
	b.Queue("COMMIT")
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, interpretError(err)
	}
	defer conn.Release() // closed rather than pooled if left in a transaction
	// The whole batch, COMMIT included, reaches the server before any
	// callback runs: a result that cannot be read (a job's bad data) must
	// not stop the batch as if nothing were written. It is kept, the
	// batch read to its end, and reported as committed if it did.
	var unread error
	for _, qq := range b.QueuedQueries {
		if fn := qq.Fn; fn != nil {
			qq.Fn = func(br pgx.BatchResults) error {
				err := fn(br)
				if pe := (*pgconn.PgError)(nil); err == nil || errors.As(err, &pe) || conn.Conn().IsClosed() {
					return err // the server's error, or the connection's
				}
				unread = cmp.Or(unread, err)
				return nil
			}
		}
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == claimAgain {
			return nil, false, nil
		}
		return nil, false, interpretCommit(err)
	}
	if unread != nil {
		return nil, false, committedError{unread}
	}
	conn.Release() // before writeBatched takes one: the pool may hold one
	res.Jobs = c.jobs
	if len(c.bad) > 0 {
		// Committed with the claim: they end dead in a transaction of
		// their own, the claim's lease still fencing them. If that fails,
		// they end dead when their lease expires (Unreadable), and
		// res.Unknown says so; the readable jobs of the claim, committed
		// and read, still run (an error here would leave them running
		// unrun till then).
		err := s.writeBatched(ctx, func(tx dbtx, b *pgx.Batch) error {
			if err := sendBatch(ctx, tx, b); err != nil {
				return err
			}
			var err error
			res.Unreadable, err = endUnreadable(ctx, tx, params, c.bad)
			return err
		})
		if err != nil {
			res.Unreadable = nil
			res.Unknown = committedError{fmt.Errorf("%w; ending it dead: %w", c.bad[0], err)}
		}
	}
	for _, p := range params.Finish {
		if _, ok := f.recorded[p.ID]; !ok {
			res.Lost = append(res.Lost, p.ID)
		}
	}
	slices.SortFunc(res.Jobs, claimOrder)
	if len(res.Jobs) < params.Limit {
		res.NextRunAt = next
	}
	return res, true, nil
}

// genericPlans makes the rest of a claim's transaction run its prepared
// statements with generic plans, made once per connection: a custom plan
// for each set of arguments (the server's default, as it estimates an
// array's length from the custom one) cost more CPU than running them
// (perf: a quarter of the server's CPU in a claim), and the generic
// plans read the same indexes (TestClaimQueryPlans).
const genericPlans = "SET LOCAL plan_cache_mode = force_generic_plan"

// claimOrder is the order of JobClaimResult.Jobs.
func claimOrder(a, b *queue.Job) int {
	return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.RunAt.Compare(b.RunAt), cmp.Compare(a.ID, b.ID))
}

// JobClaim takes back the jobs of lost workers, records outcomes and
// claims jobs, in one transaction under the write lock; see queue.Store.
// Most claims take one round trip (claimFast). The others go a step at
// a time, in as few round trips as their order allows: BEGIN with the
// write lock and, with Expired, the expired leases; the outcomes
// (finishSet), the ready queues, the claim (claimReady) and the next run
// time; NOTIFY with COMMIT. Hand-backs, jobs waiting for jobs that ended
// and paused or limited queues cost more: the claim is then made after
// them.
func (s *Store) JobClaim(ctx context.Context, params queue.JobClaimParams) (*queue.JobClaimResult, error) {
	var queues []string // nil: every queue
	if len(params.Queues) > 0 {
		queues = params.Queues
	}
	s.seen()
	if s.stepClaims.Load() > 0 {
		s.stepClaims.Add(-1)
	} else {
		res, ok, err := s.claimFast(ctx, params, queues)
		if ok || err != nil {
			return res, err
		}
		if !newFinisher(params.Finish).oneByOne() {
			s.stepClaims.Store(stepClaims) // claimCheck found a step to take
		}
	}
	var res *queue.JobClaimResult
	err := s.writeBatched(ctx, func(c dbtx, b *pgx.Batch) error {
		res = &queue.JobClaimResult{}
		now := ms(params.Now)
		b.Queue(genericPlans)
		if params.Expired != nil {
			var expired []*queue.Job
			var unreadable []*unreadableError
			b.Queue(expiredJobs, now).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					job, err := scanJob(rows)
					if bad, ok := errors.AsType[*unreadableError](err); ok {
						unreadable = append(unreadable, bad)
						continue
					}
					if err != nil {
						return err
					}
					expired = append(expired, job)
				}
				return rows.Err()
			})
			if err := sendBatch(ctx, c, b); err != nil {
				return fmt.Errorf("find expired leases: %w", err)
			}
			b = &pgx.Batch{}
			for _, job := range expired {
				res.Expired = append(res.Expired, params.Expired(job))
			}
			for _, bad := range unreadable {
				p, err := unreadableExpired(ctx, c, bad, params.Now)
				if err != nil {
					return fmt.Errorf("find expired leases: %w", err)
				}
				res.Expired = append(res.Expired, p)
			}
			if _, err := finishJobs(ctx, c, res.Expired); err != nil {
				return err
			}
		}
		f := newFinisher(params.Finish)
		f.queue(b)
		var ready []queueState
		b.Queue(readyQueues, queues).Query(func(rows pgx.Rows) error {
			var err error
			ready, err = scanReady(rows)
			return err
		})
		// The claim goes in the same batch unless hand-backs come first;
		// claimReady's guard makes it claim nothing if the outcomes'
		// dependents or a queue's settings must be counted first.
		first, waited := params.Limit > 0 && !f.oneByOne(), false
		var cl claimed
		if first {
			ending := f.ending()
			b.Queue(waitedOn, ending).QueryRow(func(row pgx.Row) error { return row.Scan(&waited) })
			queueClaim(b, params, queues, nil, nil, ending, &cl)
		}
		var next time.Time
		if params.Limit > 0 {
			queueNextRun(b, queues, now, &next)
		}
		if err := sendBatch(ctx, c, b); err != nil {
			return err
		}
		var err error
		if res.Lost, res.Cancelled, err = f.rest(ctx, c); err != nil {
			return err
		}
		if params.Limit <= 0 { // claim nothing (a runner may ask for less than none)
			return nil
		}
		var rateNext time.Time
		if !first || waited || slices.ContainsFunc(ready, func(qs queueState) bool { return qs.set }) {
			// The guard held (or the claim was not sent): claim now.
			if f.changed { // jobs made ready since the batch read them
				if ready, err = readyStates(ctx, c, queues); err != nil {
					return err
				}
			}
			if cl, next, rateNext, err = claim(ctx, c, params, queues, ready); err != nil {
				return fmt.Errorf("claim jobs: %w", err)
			}
		}
		res.Jobs = cl.jobs
		if res.Unreadable, err = endUnreadable(ctx, c, params, cl.bad); err != nil {
			return fmt.Errorf("claim jobs: %w", err)
		}
		slices.SortFunc(res.Jobs, claimOrder)
		if len(res.Jobs) < params.Limit {
			res.NextRunAt = next
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

// runAttempts reads the run and attempts of a job, whose other columns
// may be unreadable.
const runAttempts = `SELECT run, attempts FROM jobs WHERE id = $1`

// unreadableExpired decides the outcome of bad, an expired job whose row
// cannot be decoded (queue.Unreadable), from the run and attempts read
// alone: one bad row is an error about its job, not one that stops every
// worker's claims at each pass. The row is locked (expiredJobs), so the
// run read fences the outcome as a whole row's would.
func unreadableExpired(ctx context.Context, tx dbtx, bad *unreadableError, now time.Time) (queue.JobFinishParams, error) {
	var run, attempts int64
	if err := tx.QueryRow(ctx, runAttempts, bad.id).Scan(&run, &attempts); err != nil {
		return queue.JobFinishParams{}, fmt.Errorf("%w (and its run: %w)", bad, interpretError(err))
	}
	return queue.Unreadable(queue.JobRef{ID: bad.id, Run: int(run)}, int(attempts), now, bad), nil
}

// queueClaim adds claimReady to b, its jobs to go to jobs; allowNames
// and allowN are the allowances of the queues with settings (nil: not
// counted), ending the jobs whose dependents the guard looks for.
func queueClaim(b *pgx.Batch, params queue.JobClaimParams, queues, allowNames []string, allowN []int64, ending []int64, c *claimed) {
	now := ms(params.Now)
	b.Queue(claimReady, params.Worker, ms(params.LeaseUntil), now, queues, int64(params.Limit), allowNames, allowN, ending, int64(params.Ahead)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			job, err := scanJob(rows)
			if bad, ok := errors.AsType[*unreadableError](err); ok {
				c.bad = append(c.bad, bad)
				continue
			}
			if err != nil {
				return err
			}
			c.jobs = append(c.jobs, job)
		}
		return rows.Err()
	})
}

// claimed is what claimReady claimed: the jobs, and those whose row
// cannot be decoded (bad data), which are to end dead (endUnreadable)
// rather than fail every claim.
type claimed struct {
	jobs []*queue.Job
	bad  []*unreadableError
}

// claimedRunAttempts reads the run and attempts of a job, whose other
// columns may be unreadable, while the claim of worker $2 with lease
// $3 holds it.
const claimedRunAttempts = `SELECT run, attempts FROM jobs
	WHERE id = $1 AND state = 'running' AND worker = $2 AND lease_until = $3 FOR UPDATE`

// endUnreadable ends dead, in tx, the jobs of bad that params's claim
// took and still holds (queue.UnreadableClaimed), fenced by their run,
// their dependents settled, and returns their outcomes.
func endUnreadable(ctx context.Context, tx dbtx, params queue.JobClaimParams, bad []*unreadableError) ([]queue.JobFinishParams, error) {
	if len(bad) == 0 {
		return nil, nil
	}
	var out []queue.JobFinishParams
	for _, b := range bad {
		var run, attempts int64
		err := tx.QueryRow(ctx, claimedRunAttempts, b.id, params.Worker, ms(params.LeaseUntil)).Scan(&run, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // no longer held: ended by another
		}
		if err != nil {
			return nil, fmt.Errorf("%w (and its run: %w)", b, interpretError(err))
		}
		out = append(out, queue.UnreadableClaimed(queue.JobRef{ID: b.id, Run: int(run)}, int(attempts), params.Now, b))
	}
	if _, err := finishJobs(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// queueNextRun adds nextRun to b, its time to go to next.
func queueNextRun(b *pgx.Batch, queues []string, now int64, next *time.Time) {
	b.Queue(nextRun, queues, now).QueryRow(func(row pgx.Row) error {
		var at sql.NullInt64
		err := row.Scan(&at)
		*next = fromNullMS(at)
		return err
	})
}

// sendBatch runs b's statements in tx in one round trip, and their
// callbacks.
func sendBatch(ctx context.Context, tx dbtx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return interpretError(tx.SendBatch(ctx, b).Close())
}

// finishJobs records outcomes, fenced by each job's run, settles the jobs
// waiting for those that ended, and returns the IDs of the jobs whose
// worker no longer held them.
func finishJobs(ctx context.Context, tx dbtx, finish []queue.JobFinishParams) (lost []int64, err error) {
	f := newFinisher(finish)
	b := &pgx.Batch{}
	f.queue(b)
	if err := sendBatch(ctx, tx, b); err != nil {
		return nil, err
	}
	lost, _, err = f.rest(ctx, tx)
	return lost, err
}

// finisher records outcomes in two steps: queue puts those of jobs that
// ran to an end (not hand-backs, each job once) in a batch as one
// statement (finishSet); rest then records the others one at a time and
// settles the jobs waiting for the jobs that ended, in the order of the
// outcomes.
type finisher struct {
	finish   []queue.JobFinishParams
	inSet    []bool         // finish[i] is recorded by finishSet
	recorded map[int64]bool // by finishSet: true when jobs wait for it
	// changed says that rest changed what a claim finds ready (a job
	// handed back, dependents settled) after queue's batch.
	changed bool
}

func newFinisher(finish []queue.JobFinishParams) *finisher {
	f := &finisher{finish: finish, inSet: make([]bool, len(finish)), recorded: map[int64]bool{}}
	seen := make(map[int64]bool, len(finish))
	for i, p := range finish {
		f.inSet[i] = p.State != queue.StatePending && !p.Unstarted && !seen[p.ID]
		seen[p.ID] = true
	}
	return f
}

// oneByOne says whether some outcomes are recorded one at a time (rest).
func (f *finisher) oneByOne() bool { return slices.Contains(f.inSet, false) }

// ending lists the jobs finishSet may end (not nil: none is an empty
// list, as claimReady's guard wants).
func (f *finisher) ending() []int64 {
	ids := []int64{}
	for i, p := range f.finish {
		if f.inSet[i] && p.State.Final() {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// queue adds finishSet, for the outcomes it records, to b.
func (f *finisher) queue(b *pgx.Batch) {
	var ids, runs, attempts []int64
	var states []string
	var runAts, finished, ats, exits, sizes []*int64
	var signals []*string
	var errs, outputs [][]byte
	for i, p := range f.finish {
		if !f.inSet[i] {
			continue
		}
		ids, runs, states, attempts = append(ids, p.ID), append(runs, int64(p.Run)), append(states, string(p.State)), append(attempts, int64(p.Attempts))
		var runAt, fin, exit, size *int64
		if !p.RunAt.IsZero() {
			runAt = new(ms(p.RunAt))
		}
		if p.State.Final() {
			fin = new(ms(p.FinishedAt))
		}
		if p.ExitCode != nil {
			exit = new(int64(*p.ExitCode))
		}
		if p.Output != nil {
			size = new(p.OutputSize)
		}
		var signal *string
		if p.Signal != "" {
			signal = new(p.Signal)
		}
		var errText []byte
		if p.Error != "" {
			errText = []byte(p.Error)
		}
		runAts, finished, ats, exits, sizes = append(runAts, runAt), append(finished, fin), append(ats, new(ms(p.FinishedAt))), append(exits, exit), append(sizes, size)
		signals, errs, outputs = append(signals, signal), append(errs, errText), append(outputs, p.Output)
	}
	if len(ids) == 0 {
		return
	}
	b.Queue(finishSet, ids, runs, states, attempts, runAts, finished, ats, exits, signals, errs, outputs, sizes).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var waited bool
			if err := rows.Scan(&id, &waited); err != nil {
				return err
			}
			f.recorded[id] = waited
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("finish jobs: %w", err)
		}
		return nil
	})
}

// rest records the outcomes finishSet did not, one at a time, settles
// the jobs waiting for each job that ended, and returns the IDs of the
// jobs whose worker no longer held them, and of the hand-backs (pending)
// it ended cancelled, their cancel requested; queue's batch must have
// run.
func (f *finisher) rest(ctx context.Context, tx dbtx) (lost, cancelled []int64, err error) {
	for i, p := range f.finish {
		if f.inSet[i] {
			waited, ok := f.recorded[p.ID]
			if !ok {
				lost = append(lost, p.ID)
			} else if waited {
				f.changed = true
				if _, err := settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		f.changed = true
		found, c, err := finishOne(ctx, tx, p)
		if err != nil {
			return nil, nil, err
		}
		if !found {
			lost = append(lost, p.ID)
		}
		if c {
			cancelled = append(cancelled, p.ID)
		}
	}
	return lost, cancelled, nil
}

// finishOne records p alone, a hand-back or a job's second outcome in
// one claim, settles the jobs waiting for its job if it ended, and says
// whether its worker still held the job, and whether p, a hand-back
// (pending), ended cancelled, its cancel requested.
func finishOne(ctx context.Context, tx dbtx, p queue.JobFinishParams) (found, cancelled bool, err error) {
	back := p.State == queue.StatePending
	if back && !p.Unstarted {
		if p, err = handBack(ctx, tx, p); err != nil {
			return false, false, err
		}
	}
	if p.Unstarted {
		if found, err = unclaim(ctx, tx, &p); err != nil || !found {
			return found, false, err
		}
	} else {
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
			return false, false, interpretError(fmt.Errorf("finish job %d: %w", p.ID, err))
		}
		if tag.RowsAffected() == 0 {
			return false, false, nil
		}
		var size any
		if p.Output != nil {
			size = p.OutputSize
		}
		if _, err := tx.Exec(ctx, finishAttempt, ms(p.FinishedAt), exit,
			nullString(p.Signal), nullBytes(p.Error), p.Output, size, p.ID, int64(p.Run)); err != nil {
			return false, false, interpretError(fmt.Errorf("finish attempt: %w", err))
		}
	}
	if p.State.Final() {
		if _, err := settleDependents(ctx, tx, ms(p.FinishedAt), []ended{{id: p.ID, state: p.State}}); err != nil {
			return false, false, err
		}
	}
	return true, back && p.State == queue.StateCancelled, nil
}

// handBack turns the hand-back p of a job whose cancel was requested
// into its cancel (see queue.JobFinishParams).
func handBack(ctx context.Context, tx dbtx, p queue.JobFinishParams) (queue.JobFinishParams, error) {
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
// claim, and says whether the worker still held the job; p.State becomes
// the state the job went back to, or cancelled (unclaimJob).
func unclaim(ctx context.Context, tx dbtx, p *queue.JobFinishParams) (bool, error) {
	var st string
	err := tx.QueryRow(ctx, unclaimJob, string(p.State), ms(p.FinishedAt), []byte(queue.ErrCancelled.Error()),
		nullBytes(p.Error), p.ID, int64(p.Run)).Scan(&st)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	p.State = queue.State(st)
	if _, err := tx.Exec(ctx, unclaimAttempt, p.ID, int64(p.Run)); err != nil {
		return false, interpretError(fmt.Errorf("hand back job %d: %w", p.ID, err))
	}
	return true, nil
}

// queueState is a queue and one of its ready states that holds jobs,
// and whether the queue has a setting (readyQueues).
type queueState struct {
	queue, state string
	set          bool
}

// readyStates lists the queues among queues (nil: all) that hold ready
// jobs, with those states, in queue order (readyQueues).
func readyStates(ctx context.Context, tx dbtx, queues []string) ([]queueState, error) {
	rows, err := tx.Query(ctx, readyQueues, queues)
	if err != nil {
		return nil, interpretError(err)
	}
	return scanReady(rows)
}

// scanReady collects the rows of readyQueues.
func scanReady(rows pgx.Rows) ([]queueState, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queueState, error) {
		var qs queueState
		return qs, row.Scan(&qs.queue, &qs.state, &qs.set)
	})
	return out, interpretError(err)
}

// claim claims up to params.Limit ready jobs within the queues' limits,
// which count every host's jobs (the write lock keeps any other claim
// out between the count and the claim), as the SQLite store's: it reads
// the head of each queue of ready that may start a job, at most as many
// jobs as that queue may start, and claims the first of them all
// (claimReady). A paused queue, or a limited one that may start no job
// now, is not read at all, however many jobs it holds. With the claim,
// in the same round trip, it reads next, when the first ready job whose
// time has not come falls due, and returns rateNext, when a rate limit
// that held back a job whose time had come lets one start (zero if none
// did).
func claim(ctx context.Context, c dbtx, params queue.JobClaimParams, queues []string, ready []queueState) (jobs claimed, next, rateNext time.Time, err error) {
	now := ms(params.Now)
	var allow map[string]int
	var frees map[string]time.Time
	if slices.ContainsFunc(ready, func(qs queueState) bool { return qs.set }) {
		if allow, frees, err = allowances(ctx, c, params.Now); err != nil {
			return jobs, next, rateNext, err
		}
	}
	// Not nil: the allowances are counted (claimReady's guard is off).
	allowNames, allowN := []string{}, []int64{}
	for i := 0; i < len(ready); { // one queue at a time: ready is in queue order
		start := i
		for i < len(ready) && ready[i].queue == ready[start].queue {
			i++
		}
		q, states := ready[start].queue, ready[start:i]
		n, limited := allow[q]
		if !limited {
			continue // claimReady's $5
		}
		if n <= 0 {
			// Held back: its next start matters if a job of it is due.
			if at, ok := frees[q]; ok && (rateNext.IsZero() || at.Before(rateNext)) {
				due, err := anyDue(ctx, c, q, states, now)
				if err != nil {
					return jobs, next, rateNext, err
				}
				if due {
					rateNext = at
				}
			}
			n = 0
		}
		allowNames, allowN = append(allowNames, q), append(allowN, int64(min(params.Limit, n)))
	}
	b := &pgx.Batch{}
	queueClaim(b, params, queues, allowNames, allowN, nil, &jobs)
	queueNextRun(b, queues, now, &next)
	if err := sendBatch(ctx, c, b); err != nil {
		return jobs, next, rateNext, err
	}
	return jobs, next, rateNext, nil
}

// anyDue says whether a job of queue q in one of states has come to its
// time, by one seek per state (dueAny).
func anyDue(ctx context.Context, tx dbtx, q string, states []queueState, now int64) (bool, error) {
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
func allowances(ctx context.Context, tx dbtx, now time.Time) (allow map[string]int, frees map[string]time.Time, err error) {
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
