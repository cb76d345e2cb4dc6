package sqlite

import (
	"context"
	"database/sql"

	"github.com/jobq/jobq/internal/queue"
)

// AttemptList returns a job's history, each attempt numbered by its run;
// see queue.Store.
func (s *Store) AttemptList(ctx context.Context, jobID int64) ([]queue.Attempt, error) {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1 FROM jobs WHERE id = ?", jobID).Scan(&one); err != nil {
		return nil, interpretError(err)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT run, worker, started_at,
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
		if err := rows.Scan(&a.Attempt, &a.Worker, &started, &finished, &exit,
			&signal, &errText, &a.Output); err != nil {
			return nil, err
		}
		a.StartedAt, a.FinishedAt = fromMS(started), fromNullMS(finished)
		a.ExitCode, a.Signal, a.Error = nullInt(exit), signal.String, errText.String
		out = append(out, a)
	}
	return out, interpretError(rows.Err())
}
