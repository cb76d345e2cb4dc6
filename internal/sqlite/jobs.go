package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

const jobColumns = `id, queue, state, priority, command, argv, dir, env, run_at,
	max_attempts, attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, started_at, finished_at, exit_code, signal, last_error, run,
	worker, lease_until, cancel_requested, progress, progress_message, progress_at`

const insertColumns = `INSERT INTO jobs (queue, state, priority, command, argv, dir, env,
	run_at, max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, updated_at) VALUES `

const insertRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// insertChunk is how many rows one INSERT statement takes: a batch pays the
// per-statement cost once per chunk rather than once per job.
const insertChunk = 64

// JobInsert inserts all of params in one transaction; see queue.Store.
//
// Unique keys are settled first, in Go, so that every row sent is inserted:
// the new rows of one statement then get consecutive IDs (SQLite gives a
// new row the largest rowid plus one, and this transaction holds the only
// write lock), and the IDs are known without reading them back.
func (s *Store) JobInsert(ctx context.Context, params []queue.JobInsertParams) ([]int64, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	params, failedDeps, err := settleDependencies(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(params))
	fresh, sameAs, err := settleUniqueKeys(ctx, tx, params, ids)
	if err != nil {
		return nil, err
	}
	// mattn runs a statement on a goroutine of its own when its context can
	// be cancelled; per row that costs more than the insert. A batch is
	// short and all or nothing, so it runs to the end once started.
	execCtx := context.WithoutCancel(ctx)
	ins := inserter{tx: tx, ctx: execCtx}
	defer ins.close()
	for start := 0; start < len(fresh); start += insertChunk {
		part := fresh[start:min(start+insertChunk, len(fresh))]
		last, err := ins.insert(params, part)
		if err != nil {
			return nil, interpretError(fmt.Errorf("insert jobs: %w", err))
		}
		for k, i := range part {
			ids[i] = last - int64(len(part)-1-k)
		}
	}
	for i, j := range sameAs {
		ids[i] = ids[j]
	}
	if len(fresh) > 0 {
		if _, err := tx.ExecContext(execCtx, `INSERT INTO events (job_id, at, to_state, attempt)
			SELECT id, created_at, state, attempts FROM jobs WHERE id BETWEEN ? AND ?`,
			ids[fresh[0]], ids[fresh[len(fresh)-1]]); err != nil {
			return nil, interpretError(fmt.Errorf("log new jobs: %w", err))
		}
	}
	if err := countNewJobs(execCtx, tx, params, fresh); err != nil {
		return nil, err
	}
	if err := insertDependencies(ctx, tx, params, fresh, ids, failedDeps); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, interpretError(err)
	}
	return ids, nil
}

// countNewJobs adds the jobs inserted to job_counts, one statement per
// queue and state (see job_counts in the schema).
func countNewJobs(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams, fresh []int) error {
	type key struct {
		queue string
		state queue.State
	}
	counts := map[key]int{}
	for _, i := range fresh {
		counts[key{params[i].Queue, params[i].State}]++
	}
	for k, n := range counts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_counts (queue, state, n) VALUES (?, ?, ?)
			ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`, k.queue, string(k.state), n); err != nil {
			return interpretError(fmt.Errorf("count new jobs: %w", err))
		}
	}
	return nil
}

// inserter inserts chunks of rows with statements it prepares once. When
// the rows of a chunk differ only in command, argv and unique key (a batch
// of lines, with flags for the rest), the other 13 values are bound once
// per statement rather than once per row: binding was a third of a batch's
// time.
type inserter struct {
	tx    *sql.Tx
	ctx   context.Context
	stmts map[[2]int]*sql.Stmt // by shared?, rows
	args  []any
}

func (ins *inserter) close() {
	for _, st := range ins.stmts {
		st.Close()
	}
}

// insert inserts params[part...] and returns the last new row's ID.
func (ins *inserter) insert(params []queue.JobInsertParams, part []int) (int64, error) {
	first := &params[part[0]]
	shared := true
	for _, i := range part[1:] {
		if !sameShape(first, &params[i]) {
			shared = false
			break
		}
	}
	ins.args = ins.args[:0]
	if shared {
		ins.args = appendSharedArgs(ins.args, first)
		for _, i := range part {
			p := &params[i]
			ins.args = append(ins.args, p.Command, joinNUL(p.Argv), nullString(p.UniqueKey))
		}
	} else {
		for _, i := range part {
			ins.args = appendInsertArgs(ins.args, &params[i])
		}
	}
	key := [2]int{0, len(part)}
	if shared {
		key[0] = 1
	}
	st, ok := ins.stmts[key]
	if !ok {
		query := insertSQL(len(part))
		if shared {
			query = insertSharedSQL(len(part))
		}
		var err error
		if st, err = ins.tx.PrepareContext(ins.ctx, query); err != nil {
			return 0, err
		}
		if ins.stmts == nil {
			ins.stmts = map[[2]int]*sql.Stmt{}
		}
		ins.stmts[key] = st
	}
	res, err := st.ExecContext(ins.ctx, ins.args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func insertSQL(rows int) string {
	return insertColumns + strings.TrimSuffix(strings.Repeat(insertRow+", ", rows), ", ")
}

// insertSharedSQL inserts rows that share all values but command, argv and
// unique key: those 13 are ?1 to ?12 (created_at twice), the rows' from ?13.
func insertSharedSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO jobs (queue, state, priority, dir, env, run_at, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, created_at, updated_at,
	command, argv, unique_key)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, column1, column2, column3
FROM (VALUES `)
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		n := 13 + 3*r
		fmt.Fprintf(&b, "(?%d, ?%d, ?%d)", n, n+1, n+2)
	}
	b.WriteString(")")
	return b.String()
}

func appendInsertArgs(args []any, p *queue.JobInsertParams) []any {
	created := ms(p.CreatedAt)
	return append(args, p.Queue, string(p.State), p.Priority, p.Command,
		joinNUL(p.Argv), p.Dir, nullBytes(joinNUL(p.Env)), ms(p.RunAt), p.MaxAttempts,
		p.Timeout.Milliseconds(), p.Backoff.Milliseconds(), p.MaxBackoff.Milliseconds(),
		nullString(queue.FormatExitCodes(p.PermanentExit)), nullString(p.UniqueKey),
		created, created)
}

func appendSharedArgs(args []any, p *queue.JobInsertParams) []any {
	return append(args, p.Queue, string(p.State), p.Priority, p.Dir, nullBytes(joinNUL(p.Env)),
		ms(p.RunAt), p.MaxAttempts, p.Timeout.Milliseconds(), p.Backoff.Milliseconds(),
		p.MaxBackoff.Milliseconds(), nullString(queue.FormatExitCodes(p.PermanentExit)),
		ms(p.CreatedAt))
}

// sameShape reports whether two jobs differ at most in command, argv and
// unique key.
func sameShape(a, b *queue.JobInsertParams) bool {
	return a.Queue == b.Queue && a.State == b.State && a.Priority == b.Priority &&
		a.Dir == b.Dir && slices.Equal(a.Env, b.Env) && a.RunAt.Equal(b.RunAt) &&
		a.MaxAttempts == b.MaxAttempts && a.Timeout == b.Timeout && a.Backoff == b.Backoff &&
		a.MaxBackoff == b.MaxBackoff && slices.Equal(a.PermanentExit, b.PermanentExit) &&
		a.CreatedAt.Equal(b.CreatedAt)
}

// settleDependencies gives a job with --after the state its dependencies
// call for: waiting while one has not succeeded. A job one of whose
// dependencies already ended dead or cancelled is inserted waiting and
// cancelled right after (failed maps its index to that dependency), so that
// the event log shows why. A dependency that does not exist is an error.
func settleDependencies(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams) (out []queue.JobInsertParams, failed map[int]string, err error) {
	out = params
	for i := range params {
		if len(params[i].After) == 0 {
			continue
		}
		if failed == nil {
			out = slices.Clone(params) // the caller's params stay as they are
			failed = map[int]string{}
		}
		allSucceeded := true
		for _, dep := range params[i].After {
			var state string
			err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", dep).Scan(&state)
			if err != nil {
				return nil, nil, fmt.Errorf("--after job %d: %w", dep, interpretError(err))
			}
			switch queue.State(state) {
			case queue.StateSucceeded:
			case queue.StateDead, queue.StateCancelled:
				failed[i] = fmt.Sprintf("dependency %d ended %s", dep, state)
				allSucceeded = false
			default:
				allSucceeded = false
			}
		}
		switch {
		case !allSucceeded:
			out[i].State = queue.StateWaiting
		case out[i].State == queue.StateWaiting:
			// Nothing would ever wake it: it runs as a job without --after.
			out[i].State = queue.NewJobState(out[i].RunAt, out[i].CreatedAt)
		}
	}
	return out, failed, nil
}

// insertDependencies records the dependencies of the inserted jobs, and
// cancels those whose dependencies already failed.
func insertDependencies(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams, fresh []int, ids []int64, failed map[int]string) error {
	for _, i := range fresh {
		for _, dep := range params[i].After {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO job_deps (job_id, depends_on) VALUES (?, ?)", ids[i], dep); err != nil {
				return interpretError(fmt.Errorf("insert dependency: %w", err))
			}
		}
		if why, ok := failed[i]; ok {
			now := ms(params[i].CreatedAt)
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled', last_error = ?,
				finished_at = ?, updated_at = ? WHERE id = ?`, why, now, now, ids[i]); err != nil {
				return interpretError(err)
			}
		}
	}
	return nil
}

// settleUniqueKeys finds the jobs of params that are not to be inserted
// because their unique key belongs to a job not yet final: for those it
// fills in ids with that job's ID, or, when the key's job comes earlier in
// params, notes its index in sameAs. It returns the indexes to insert.
func settleUniqueKeys(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams, ids []int64) (fresh []int, sameAs map[int]int, err error) {
	fresh = make([]int, 0, len(params))
	var first map[string]int // key -> index of the job that inserts it
	var lookup *sql.Stmt
	for i := range params {
		key := params[i].UniqueKey
		if key == "" {
			fresh = append(fresh, i)
			continue
		}
		if j, ok := first[key]; ok {
			if sameAs == nil {
				sameAs = map[int]int{}
			}
			sameAs[i] = j
			continue
		}
		if lookup == nil {
			lookup, err = tx.PrepareContext(ctx, `SELECT id FROM jobs WHERE unique_key = ?
				AND state NOT IN ('succeeded', 'dead', 'cancelled')`)
			if err != nil {
				return nil, nil, interpretError(err)
			}
			defer lookup.Close()
			first = map[string]int{}
		}
		err := lookup.QueryRowContext(ctx, key).Scan(&ids[i])
		switch {
		case err == nil:
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, nil, interpretError(err)
		}
		first[key] = i
		fresh = append(fresh, i)
	}
	return fresh, sameAs, nil
}

// JobGet returns one job or queue.ErrNotFound.
func (s *Store) JobGet(ctx context.Context, id int64) (*queue.Job, error) {
	job, err := scanJob(s.reader.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if err != nil {
		return nil, interpretError(err)
	}
	return job, s.loadDependencies(ctx, []*queue.Job{job})
}

// JobList returns the jobs filter selects, newest first; see queue.Store.
func (s *Store) JobList(ctx context.Context, filter queue.JobFilter) ([]*queue.Job, error) {
	where, args := jobFilter(filter)
	query := "SELECT " + jobColumns + " FROM jobs WHERE " + where + " ORDER BY id DESC"
	if filter.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, filter.Limit)
	}
	jobs, err := s.queryJobs(ctx, s.reader, query, args...)
	if err != nil || len(jobs) == 0 {
		return jobs, err
	}
	return jobs, s.loadDependencies(ctx, jobs)
}

// JobCount counts the jobs filter selects, whatever its Limit.
func (s *Store) JobCount(ctx context.Context, filter queue.JobFilter) (int, error) {
	where, args := jobFilter(filter)
	var n int
	err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE "+where, args...).Scan(&n)
	return n, interpretError(err)
}

// loadDependencies fills in the DependsOn of jobs, listed newest first.
func (s *Store) loadDependencies(ctx context.Context, jobs []*queue.Job) error {
	byID := make(map[int64]*queue.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT job_id, depends_on FROM job_deps
		WHERE job_id BETWEEN ? AND ? ORDER BY job_id, depends_on`, jobs[len(jobs)-1].ID, jobs[0].ID)
	if err != nil {
		return interpretError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, dep int64
		if err := rows.Scan(&id, &dep); err != nil {
			return err
		}
		if j, ok := byID[id]; ok {
			j.DependsOn = append(j.DependsOn, dep)
		}
	}
	return interpretError(rows.Err())
}

// clearProgress ends the progress an earlier attempt reported.
const clearProgress = ", progress = NULL, progress_message = NULL, progress_at = NULL"

// claimJobs names jobs_ready: without statistics (jobq runs no ANALYZE)
// the planner prefers jobs_state for the state test, then sorts every
// ready job to pick the first few. The %s is the queue filter.
const claimJobs = `UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = ?, lease_until = ?, started_at = ?, updated_at = ?` + clearProgress + `
WHERE id IN (
	SELECT id FROM jobs INDEXED BY jobs_ready
	WHERE state IN ('pending', 'scheduled', 'retrying') AND run_at <= ? %s
	ORDER BY priority DESC, run_at, id
	LIMIT ?)
RETURNING ` + jobColumns

// claimIDs is the claim of claimJobs for jobs picked one by one, when a
// queue is paused or limited.
const claimIDs = `UPDATE jobs SET state = 'running', attempts = attempts + 1, run = run + 1,
	worker = ?, lease_until = ?, started_at = ?, updated_at = ?` + clearProgress + `
WHERE id IN (%s)
RETURNING ` + jobColumns

// readyJobs lists ready jobs in claim order, for picking by hand.
const readyJobs = `SELECT id, queue FROM jobs INDEXED BY jobs_ready
WHERE state IN ('pending', 'scheduled', 'retrying') AND run_at <= ? %s
ORDER BY priority DESC, run_at, id`

const finishJob = `UPDATE jobs SET state = ?, attempts = ?, run_at = coalesce(?, run_at),
	finished_at = ?, exit_code = ?, signal = ?, last_error = ?, updated_at = ?,
	worker = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ? AND run = ? AND state = 'running'`

const finishAttempt = `UPDATE attempts SET finished_at = ?, exit_code = ?, signal = ?,
	error = ?, output = ?
WHERE job_id = ? AND run = ?`

// expiredLeases is how many jobs of lost workers one claim takes back.
const expiredLeases = 100

// expiredJobs finds the running jobs of lost workers. It names jobs_lease:
// without statistics the planner prefers jobs_state and reads every
// running job to find the few whose lease ended.
const expiredJobs = "SELECT " + jobColumns + ` FROM jobs INDEXED BY jobs_lease
	WHERE state = 'running' AND lease_until < ? LIMIT ?`

// JobClaim takes back the jobs of lost workers, records outcomes and
// claims jobs, in one transaction; see queue.Store.
func (s *Store) JobClaim(ctx context.Context, params queue.JobClaimParams) (*queue.JobClaimResult, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	res := &queue.JobClaimResult{}
	now := ms(params.Now)
	if params.Expired != nil {
		expired, err := s.queryJobs(ctx, tx, expiredJobs, now, expiredLeases)
		if err != nil {
			return nil, fmt.Errorf("find expired leases: %w", err)
		}
		for _, job := range expired {
			res.Expired = append(res.Expired, params.Expired(job))
		}
		if _, err := finishJobs(ctx, tx, res.Expired); err != nil {
			return nil, err
		}
	}
	if res.Lost, err = finishJobs(ctx, tx, params.Finish); err != nil {
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
		filter, args := queueFilter(params.Queues)
		var next sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT min(run_at) FROM jobs INDEXED BY jobs_ready
			WHERE state IN ('pending', 'scheduled', 'retrying') AND run_at > ? `+filter,
			append([]any{now}, args...)...).Scan(&next); err != nil {
			return nil, interpretError(err)
		}
		res.NextRunAt = fromNullMS(next)
		if !rateNext.IsZero() && (res.NextRunAt.IsZero() || rateNext.Before(res.NextRunAt)) {
			res.NextRunAt = rateNext
		}
	}
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return nil, interpretError(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, interpretError(err)
	}
	s.seen.Store(version)
	return res, nil
}

// finishJobs records outcomes, fenced by each job's run, and returns the
// IDs of the jobs whose worker no longer held them.
func finishJobs(ctx context.Context, tx *sql.Tx, finish []queue.JobFinishParams) (lost []int64, err error) {
	for _, p := range finish {
		var finished any
		if p.State.Final() {
			finished = ms(p.FinishedAt)
		}
		r, err := tx.ExecContext(ctx, finishJob, string(p.State), p.Attempts, msOrNull(p.RunAt),
			finished, p.ExitCode, nullString(p.Signal), nullString(p.Error), ms(p.FinishedAt), p.ID, p.Run)
		if err != nil {
			return nil, interpretError(fmt.Errorf("finish job %d: %w", p.ID, err))
		}
		if n, _ := r.RowsAffected(); n == 0 {
			lost = append(lost, p.ID)
			continue
		}
		if _, err := tx.ExecContext(ctx, finishAttempt, ms(p.FinishedAt), p.ExitCode,
			nullString(p.Signal), nullString(p.Error), p.Output, p.ID, p.Run); err != nil {
			return nil, interpretError(fmt.Errorf("finish attempt: %w", err))
		}
	}
	return lost, nil
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
	allow, frees, err := allowances(ctx, tx, params.Now)
	if err != nil {
		return nil, next, err
	}
	if len(allow) == 0 {
		args := append(append(append(set, now), filterArgs...), params.Limit)
		jobs, err := s.queryJobs(ctx, tx, fmt.Sprintf(claimJobs, filter), args...)
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
func allowances(ctx context.Context, tx *sql.Tx, now time.Time) (allow map[string]int, frees map[string]time.Time, err error) {
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

// JobHeartbeat extends leases; see queue.Store.
func (s *Store) JobHeartbeat(ctx context.Context, params queue.JobHeartbeatParams) (*queue.JobHeartbeatResult, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	res := &queue.JobHeartbeatResult{}
	for _, ref := range params.Jobs {
		var cancel bool
		err := tx.QueryRowContext(ctx, `UPDATE jobs SET lease_until = ?
			WHERE id = ? AND run = ? AND worker = ? AND state = 'running'
			RETURNING cancel_requested`,
			ms(params.LeaseUntil), ref.ID, ref.Run, params.Worker).Scan(&cancel)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res.Lost = append(res.Lost, ref.ID)
		case err != nil:
			return nil, interpretError(err)
		case cancel:
			res.Cancel = append(res.Cancel, ref.ID)
		}
	}
	return res, interpretError(tx.Commit())
}

// AttemptList returns a job's history; see queue.Store.
func (s *Store) AttemptList(ctx context.Context, jobID int64) ([]queue.Attempt, error) {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1 FROM jobs WHERE id = ?", jobID).Scan(&one); err != nil {
		return nil, interpretError(err)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT run, attempt, worker, started_at,
		finished_at, exit_code, signal, error, output
		FROM attempts WHERE job_id = ? ORDER BY run`, jobID)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []queue.Attempt
	for rows.Next() {
		a := queue.Attempt{JobID: jobID}
		var started int64
		var finished, exit sql.NullInt64
		var signal, errText sql.NullString
		if err := rows.Scan(&a.Run, &a.Attempt, &a.Worker, &started, &finished, &exit,
			&signal, &errText, &a.Output); err != nil {
			return nil, err
		}
		a.StartedAt, a.FinishedAt = fromMS(started), fromNullMS(finished)
		a.ExitCode, a.Signal, a.Error = nullInt(exit), signal.String, errText.String
		out = append(out, a)
	}
	return out, interpretError(rows.Err())
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) queryJobs(ctx context.Context, q queryer, query string, args ...any) ([]*queue.Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var jobs []*queue.Job
	for rows.Next() {
		job, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, interpretError(rows.Err())
}

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (*queue.Job, error) {
	var j queue.Job
	var state string
	var argv, env []byte
	var permanent, unique, signal, lastError, worker, progressMessage sql.NullString
	var runAt, created int64
	var timeout, backoff, maxBackoff int64
	var started, finished, exit, lease, progressAt sql.NullInt64
	var progress sql.NullFloat64
	err := row.Scan(&j.ID, &j.Queue, &state, &j.Priority, &j.Command, &argv, &j.Dir, &env,
		&runAt, &j.MaxAttempts, &j.Attempts, &timeout, &backoff, &maxBackoff, &permanent,
		&unique, &created, &started, &finished, &exit, &signal, &lastError, &j.Run, &worker,
		&lease, &j.CancelRequested, &progress, &progressMessage, &progressAt)
	if err != nil {
		return nil, err
	}
	if progress.Valid {
		j.Progress = &queue.Progress{Percent: progress.Float64, Message: progressMessage.String, At: fromNullMS(progressAt)}
	}
	j.Argv, j.Env = splitNUL(argv), splitNUL(env)
	if j.PermanentExit, err = queue.ParseExitCodes(permanent.String); err != nil {
		return nil, fmt.Errorf("job %d: %w", j.ID, err)
	}
	j.State = queue.State(state)
	j.RunAt, j.CreatedAt = fromMS(runAt), fromMS(created)
	j.StartedAt, j.FinishedAt, j.LeaseUntil = fromNullMS(started), fromNullMS(finished), fromNullMS(lease)
	j.Timeout = time.Duration(timeout) * time.Millisecond
	j.Backoff = time.Duration(backoff) * time.Millisecond
	j.MaxBackoff = time.Duration(maxBackoff) * time.Millisecond
	j.UniqueKey, j.Signal, j.LastError, j.Worker = unique.String, signal.String, lastError.String, worker.String
	j.ExitCode = nullInt(exit)
	return &j, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func ms(t time.Time) int64 { return t.UnixMilli() }

func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time { return time.UnixMilli(v) }

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

func nullInt(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	n := int(v.Int64)
	return &n
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// joinNUL encodes a list of strings exactly, whatever bytes they hold
// (file names need not be UTF-8): NUL cannot occur in an argument or an
// environment variable, so it separates them.
func joinNUL(list []string) []byte {
	return []byte(strings.Join(list, "\x00"))
}

func splitNUL(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
