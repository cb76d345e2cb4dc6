package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

const jobColumns = `id, queue, state, priority, command, argv, dir, env, run_at,
	max_attempts, attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, started_at, finished_at, exit_code, signal, last_error, run,
	worker, lease_until, cancel_requested, progress, progress_message, progress_at,
	schedule_id, schedule_tick`

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) queryJobs(ctx context.Context, q queryer, query string, args ...any) ([]*queue.Job, error) {
	return scanJobs(ctx, q, func(row scanner) (*queue.Job, error) { return scanJob(row) }, query, args...)
}

// scanJobs runs query and scans each row with scan.
func scanJobs(ctx context.Context, q queryer, scan func(scanner) (*queue.Job, error), query string, args ...any) ([]*queue.Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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

// readColumns are jobColumns and the end of the output of the job's latest
// attempt, which holds its last line (queue.Job.LastOutput): what JobGet
// and JobList read, through the attempts' unique (job_id, run) index, and
// claims do not pay for. A line longer than the end read is cut at its
// start.
const readColumns = jobColumns + `,
	(SELECT substr(output, -1024) FROM attempts WHERE job_id = jobs.id ORDER BY run DESC LIMIT 1)`

// scanReadJob scans the readColumns of a row.
func scanReadJob(row scanner) (*queue.Job, error) {
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

type scanner interface{ Scan(dest ...any) error }

// scanJob scans the jobColumns of a row, and then into extra.
func scanJob(row scanner, extra ...any) (*queue.Job, error) {
	var j queue.Job
	var state string
	var argv, env []byte
	var permanent, unique, signal, lastError, worker, progressMessage sql.NullString
	var runAt, created int64
	var timeout, backoff, maxBackoff int64
	var started, finished, exit, lease, progressAt, scheduleID, scheduleTick sql.NullInt64
	var progress sql.NullFloat64
	dest := []any{&j.ID, &j.Queue, &state, &j.Priority, &j.Command, &argv, &j.Dir, &env,
		&runAt, &j.MaxAttempts, &j.Attempts, &timeout, &backoff, &maxBackoff, &permanent,
		&unique, &created, &started, &finished, &exit, &signal, &lastError, &j.Run, &worker,
		&lease, &j.CancelRequested, &progress, &progressMessage, &progressAt, &scheduleID, &scheduleTick}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, scanError(row, len(dest), err)
	}
	if progress.Valid {
		j.Progress = &queue.Progress{Percent: progress.Float64, Message: progressMessage.String, At: fromNullMS(progressAt)}
	}
	j.Argv, j.Env = splitNUL(argv), splitNUL(env)
	j.State = queue.State(state)
	j.RunAt, j.CreatedAt = fromMS(runAt), fromMS(created)
	j.StartedAt, j.FinishedAt, j.LeaseUntil = fromNullMS(started), fromNullMS(finished), fromNullMS(lease)
	j.Timeout = time.Duration(timeout) * time.Millisecond
	j.Backoff = time.Duration(backoff) * time.Millisecond
	j.MaxBackoff = time.Duration(maxBackoff) * time.Millisecond
	j.UniqueKey, j.Signal, j.LastError, j.Worker = unique.String, signal.String, lastError.String, worker.String
	j.ExitCode = nullInt(exit)
	j.ScheduleID, j.ScheduleTick = scheduleID.Int64, fromNullMS(scheduleTick)
	var err error
	if j.PermanentExit, err = queue.ParseExitCodes(permanent.String); err != nil {
		return nil, &unreadableError{id: j.ID, err: err, job: &j}
	}
	return &j, nil
}

// unreadableError is a job's row that was read but cannot be decoded:
// bad data, which another program wrote (jobq writes none; a column of
// SQLite holds a value of any type).
type unreadableError struct {
	id  int64
	err error
	job *queue.Job // what could be read of it (queue.Job.Unreadable), or nil
}

func (e *unreadableError) Error() string { return fmt.Sprintf("job %d: %v", e.id, e.err) }
func (e *unreadableError) Unwrap() error { return e.err }

// scanError is err, the error of scanning the n columns of row, the job
// ID first, as an unreadableError when the ID can be read: scanned again
// as they are (the rows of a query may be, a single row's may not).
func scanError(row scanner, n int, err error) error {
	raw := make([]any, n)
	dest := make([]any, n)
	for i := range raw {
		dest[i] = &raw[i]
	}
	if row.Scan(dest...) != nil {
		return err
	}
	if id, ok := raw[0].(int64); ok {
		job := &queue.Job{ID: id, Queue: text(raw[1]), State: queue.State(text(raw[2])), LastError: text(raw[21])}
		return &unreadableError{id: id, err: err, job: job}
	}
	return err
}

// text is v, a column's value as the driver gives it, as text.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// queryIDs runs query, which selects one integer column, and returns it.
func queryIDs(ctx context.Context, q queryer, query string, args ...any) ([]int64, error) {
	var ids []int64
	err := eachRow(ctx, q, query, args, func(rows *sql.Rows) error {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// eachRow runs query and calls f on each of its rows.
func eachRow(ctx context.Context, q queryer, query string, args []any, f func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
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

func zeroNull64(n int64) any {
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

func zeroNull(n int) any {
	if n == 0 {
		return nil
	}
	return n
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
