package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/jobq/jobq/internal/queue"
)

// attemptColumns are what an Attempt is scanned from (scanAttempt).
const attemptColumns = `run, worker, started_at, finished_at, exit_code, signal, error, output_size`

// AttemptList returns a job's history, each attempt numbered by its run;
// see queue.Store.
func (s *Store) AttemptList(ctx context.Context, jobID int64) ([]queue.Attempt, error) {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1 FROM jobs WHERE id = ?", jobID).Scan(&one); err != nil {
		return nil, interpretError(err)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+attemptColumns+`, output
		FROM attempts WHERE job_id = ? ORDER BY run`, jobID)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []queue.Attempt
	for rows.Next() {
		a := queue.Attempt{JobID: jobID}
		if err := scanAttempt(rows, &a, &a.Output); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, interpretError(rows.Err())
}

// scanAttempt scans the attemptColumns of a row into a, then into extra.
func scanAttempt(row scanner, a *queue.Attempt, extra ...any) error {
	var started int64
	var finished, exit, size sql.NullInt64
	var signal, errText sql.NullString
	if err := row.Scan(append([]any{&a.Attempt, &a.Worker, &started, &finished, &exit,
		&signal, &errText, &size}, extra...)...); err != nil {
		return err
	}
	a.StartedAt, a.FinishedAt = fromMS(started), fromNullMS(finished)
	a.ExitCode, a.Signal, a.Error = nullInt(exit), signal.String, errText.String
	a.OutputSize = size.Int64
	return nil
}

// attemptOutput reads a job's state and one attempt (its latest when the
// second argument is 0) in one statement. The output is read only when
// its size is not the one the caller knows: SQLite then does not read
// the blob at all.
const attemptOutput = `SELECT j.state, j.run, a.id IS NOT NULL, a.run, a.worker, a.started_at,
	a.finished_at, a.exit_code, a.signal, a.error, a.output_size,
	CASE WHEN a.output_size = ? THEN NULL ELSE a.output END
FROM jobs j LEFT JOIN attempts a ON a.job_id = j.id AND a.run = CASE ? WHEN 0 THEN j.run ELSE ? END
WHERE j.id = ?`

// AttemptOutput reads one attempt and its job's state; see queue.Store.
func (s *Store) AttemptOutput(ctx context.Context, params queue.AttemptOutputParams) (*queue.AttemptOutputResult, error) {
	var res queue.AttemptOutputResult
	var state string
	var found bool
	var a queue.Attempt
	// The attempt's columns are NULL when there is none: scanned apart.
	var run, started, finished, exit, size sql.NullInt64
	var worker, signal, errText sql.NullString
	err := s.reader.QueryRowContext(ctx, attemptOutput, params.KnownSize, params.Attempt, params.Attempt, params.JobID).Scan(
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
	a.ExitCode, a.Signal, a.Error = nullInt(exit), signal.String, errText.String
	a.OutputSize = size.Int64
	res.Attempt = &a
	return &res, nil
}

// JobOutput records the output so far of a worker's running attempts, in
// one statement; see queue.Store. The fence is the job's: running, this
// run, this worker. The attempt's own row cannot tell, as a lost
// worker's attempt is closed by another worker.
func (s *Store) JobOutput(ctx context.Context, params queue.JobOutputParams) error {
	if len(params.Outputs) == 0 {
		return nil
	}
	args := make([]any, 0, 4*len(params.Outputs)+1)
	for _, o := range params.Outputs {
		args = append(args, o.ID, o.Run, o.Output, o.Size)
	}
	args = append(args, params.Worker)
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(params.Outputs)), ", ")
	_, err := s.writer.ExecContext(ctx, `UPDATE attempts SET output = v.column3, output_size = v.column4
		FROM (VALUES `+values+`) AS v
		WHERE attempts.job_id = v.column1 AND attempts.run = v.column2
		AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = v.column1 AND jobs.run = v.column2
			AND jobs.state = 'running' AND jobs.worker = ?)`, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return interpretError(err)
}
