package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

const jobColumns = `id, queue, state, priority, command, argv, dir, env, run_at,
	max_attempts, attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, started_at, finished_at, exit_code, signal, last_error, run,
	worker, lease_until, cancel_requested, progress, progress_message, progress_at,
	schedule_id, schedule_tick`

// queryJobs runs query and scans its rows' jobColumns.
func queryJobs(ctx context.Context, q querier, query string, args ...any) ([]*queue.Job, error) {
	return scanJobs(ctx, q, func(row pgx.Row) (*queue.Job, error) { return scanJob(row) }, query, args...)
}

// scanJobs runs query and scans each row with scan.
func scanJobs(ctx context.Context, q querier, scan func(pgx.Row) (*queue.Job, error), query string, args ...any) ([]*queue.Job, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var jobs []*queue.Job
	for rows.Next() {
		job, err := scan(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, interpretError(rows.Err())
}

// readColumns are jobColumns and the end of the output of the job's
// latest attempt, for queue.Job.LastOutput, as in the sqlite store.
const readColumns = jobColumns + `,
	(SELECT substring(output FROM greatest(length(output) - 1023, 1)) FROM attempts
	 WHERE job_id = jobs.id ORDER BY run DESC LIMIT 1)`

// scanReadJob scans the readColumns of a row.
func scanReadJob(row pgx.Row) (*queue.Job, error) {
	var tail []byte
	job, err := scanJob(row, &tail)
	if bad, ok := errors.AsType[*unreadableError](err); ok && bad.job != nil {
		bad.job.Unreadable, bad.job.LastOutput = bad.Error(), queue.LastLine(tail)
		return bad.job, nil
	}
	if err != nil {
		return nil, err
	}
	job.LastOutput = queue.LastLine(tail)
	return job, nil
}

// scanJob scans the jobColumns of a row, and then into extra.
func scanJob(row pgx.Row, extra ...any) (*queue.Job, error) {
	var j queue.Job
	var state string
	var command, argv, dir, env, lastError []byte
	var permanent, unique, signal, worker, progressMessage sql.NullString
	var runAt, created int64
	var timeout, backoff, maxBackoff int64
	var started, finished, exit, lease, progressAt, scheduleID, scheduleTick sql.NullInt64
	var progress sql.NullFloat64
	dest := []any{&j.ID, &j.Queue, &state, &j.Priority, &command, &argv, &dir, &env,
		&runAt, &j.MaxAttempts, &j.Attempts, &timeout, &backoff, &maxBackoff, &permanent,
		&unique, &created, &started, &finished, &exit, &signal, &lastError, &j.Run, &worker,
		&lease, &j.CancelRequested, &progress, &progressMessage, &progressAt, &scheduleID, &scheduleTick}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, interpretError(err)
	}
	if progress.Valid {
		j.Progress = &queue.Progress{Percent: progress.Float64, Message: progressMessage.String, At: fromNullMS(progressAt)}
	}
	j.Command, j.Dir, j.LastError = string(command), string(dir), string(lastError)
	j.Argv, j.Env = splitNUL(argv), splitNUL(env)
	j.State = queue.State(state)
	j.RunAt, j.CreatedAt = fromMS(runAt), fromMS(created)
	j.StartedAt, j.FinishedAt, j.LeaseUntil = fromNullMS(started), fromNullMS(finished), fromNullMS(lease)
	j.Timeout = time.Duration(timeout) * time.Millisecond
	j.Backoff = time.Duration(backoff) * time.Millisecond
	j.MaxBackoff = time.Duration(maxBackoff) * time.Millisecond
	j.UniqueKey, j.Signal, j.Worker = unique.String, signal.String, worker.String
	j.ExitCode = nullInt(exit)
	j.ScheduleID, j.ScheduleTick = scheduleID.Int64, fromNullMS(scheduleTick)
	var err error
	if j.PermanentExit, err = queue.ParseExitCodes(permanent.String); err != nil {
		return nil, &unreadableError{id: j.ID, err: err, job: &j}
	}
	return &j, nil
}

// unreadableError is a job's row that was read but cannot be decoded:
// bad data, which another program wrote (jobq writes none).
type unreadableError struct {
	id  int64
	err error
	job *queue.Job // what could be read of it (queue.Job.Unreadable)
}

func (e *unreadableError) Error() string { return fmt.Sprintf("job %d: %v", e.id, e.err) }
func (e *unreadableError) Unwrap() error { return e.err }

// queryIDs runs query, which selects one bigint column, and returns it.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, interpretError(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, interpretError(err)
}

// eachRow runs query and calls f on each of its rows.
func eachRow(ctx context.Context, q querier, query string, args []any, f func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return interpretError(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return interpretError(rows.Err())
}

// placeholders numbers placeholders: p.add(v) appends v and returns "$n".
type placeholders struct{ args []any }

func (p *placeholders) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// list appends vs and returns "$n, $n+1, ...".
func (p *placeholders) list(vs ...any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = p.add(v)
	}
	return strings.Join(out, ", ")
}

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

func zeroNull64(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

func zeroNull(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes is s as bytea, NULL when empty.
func nullBytes(s string) any {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// joinNUL encodes a list of strings exactly (see the sqlite store).
func joinNUL(list []string) []byte {
	return []byte(strings.Join(list, "\x00"))
}

func splitNUL(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}
