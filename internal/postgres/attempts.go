package postgres

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// attemptColumns are what an Attempt is scanned from (scanAttempt).
const attemptColumns = `run, worker, started_at, finished_at, exit_code, signal, error, output_size`

// AttemptList returns a job's history; see queue.Store.
func (s *Store) AttemptList(ctx context.Context, jobID int64) ([]queue.Attempt, error) {
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1 FROM jobs WHERE id = $1", jobID).Scan(&one); err != nil {
		return nil, interpretError(err)
	}
	var out []queue.Attempt
	err := eachRow(ctx, s.pool, `SELECT `+attemptColumns+`, output
		FROM attempts WHERE job_id = $1 ORDER BY run`, []any{jobID}, func(rows pgx.Rows) error {
		a := queue.Attempt{JobID: jobID}
		if err := scanAttempt(rows, &a, &a.Output); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// scanAttempt scans the attemptColumns of a row into a, then into extra.
func scanAttempt(row pgx.Row, a *queue.Attempt, extra ...any) error {
	var started int64
	var finished, exit, size sql.NullInt64
	var signal sql.NullString
	var errText []byte
	if err := row.Scan(append([]any{&a.Attempt, &a.Worker, &started, &finished, &exit,
		&signal, &errText, &size}, extra...)...); err != nil {
		return err
	}
	a.StartedAt, a.FinishedAt = fromMS(started), fromNullMS(finished)
	a.ExitCode, a.Signal, a.Error = nullInt(exit), signal.String, string(errText)
	a.OutputSize = size.Int64
	return nil
}

// attemptOutput reads a job's state and one attempt (its latest when $2
// is 0) in one statement; the output only when its size is not $1.
const attemptOutput = `SELECT j.state, j.run, a.id IS NOT NULL, a.run, a.worker, a.started_at,
	a.finished_at, a.exit_code, a.signal, a.error, a.output_size,
	CASE WHEN a.output_size = $1 THEN NULL ELSE a.output END
FROM jobs j LEFT JOIN attempts a ON a.job_id = j.id AND a.run = CASE $2::bigint WHEN 0 THEN j.run ELSE $2 END
WHERE j.id = $3`

// AttemptOutput reads one attempt and its job's state; see queue.Store.
func (s *Store) AttemptOutput(ctx context.Context, params queue.AttemptOutputParams) (*queue.AttemptOutputResult, error) {
	var res queue.AttemptOutputResult
	var state string
	var found bool
	var a queue.Attempt
	var run, started, finished, exit, size sql.NullInt64
	var worker, signal sql.NullString
	var errText []byte
	err := s.pool.QueryRow(ctx, attemptOutput, params.KnownSize, int64(params.Attempt), params.JobID).Scan(
		&state, &res.JobRun, &found, &run, &worker, &started, &finished, &exit, &signal, &errText, &size, &a.Output)
	if err != nil {
		return nil, interpretError(err)
	}
	res.JobState = queue.State(state)
	if !found {
		return &res, nil
	}
	a.JobID, a.Attempt, a.Worker = params.JobID, int(run.Int64), worker.String
	a.StartedAt, a.FinishedAt = fromMS(started.Int64), fromNullMS(finished)
	a.ExitCode, a.Signal, a.Error = nullInt(exit), signal.String, string(errText)
	a.OutputSize = size.Int64
	res.Attempt = &a
	return &res, nil
}

// JobOutput records the output so far of a worker's running attempts, in
// one statement, fenced by the job's run and worker; see queue.Store. It
// changes no state: no write lock, and no one to notify (logs -f looks
// every second).
func (s *Store) JobOutput(ctx context.Context, params queue.JobOutputParams) error {
	if len(params.Outputs) == 0 {
		return nil
	}
	n := len(params.Outputs)
	ids, runs, sizes := make([]int64, n), make([]int64, n), make([]int64, n)
	outputs := make([][]byte, n)
	for i, o := range params.Outputs {
		ids[i], runs[i], outputs[i], sizes[i] = o.ID, int64(o.Run), o.Output, o.Size
	}
	_, err := s.pool.Exec(ctx, `UPDATE attempts SET output = v.output, output_size = v.size
		FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bigint[]) AS v (id, run, output, size)
		WHERE attempts.job_id = v.id AND attempts.run = v.run
		AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = v.id AND jobs.run = v.run
			AND jobs.state = 'running' AND jobs.worker = $5)`, ids, runs, outputs, sizes, params.Worker)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return interpretError(err)
}
