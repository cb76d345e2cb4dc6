package sqlite

import (
	"context"
	"database/sql"
	"slices"

	"github.com/jobq/jobq/internal/queue"
)

// EventList returns logged transitions, oldest first; see queue.Store.
func (s *Store) EventList(ctx context.Context, params queue.EventListParams) ([]queue.Event, error) {
	where, args := "id > ?", []any{params.AfterID}
	if params.JobID != 0 {
		where += " AND job_id = ?"
		args = append(args, params.JobID)
	}
	order := "id"
	limit := -1
	if params.Last > 0 {
		order, limit = "id DESC", params.Last
	}
	var out []queue.Event
	err := eachRow(ctx, s.reader, `SELECT id, job_id, at, from_state, to_state, attempt, worker, error, schedule
		FROM events WHERE `+where+` ORDER BY `+order+` LIMIT ?`, append(args, limit), func(rows *sql.Rows) error {
		var e queue.Event
		var at int64
		var from, worker, errText, schedule sql.NullString
		var to string
		if err := rows.Scan(&e.ID, &e.JobID, &at, &from, &to, &e.Attempt, &worker, &errText, &schedule); err != nil {
			return err
		}
		e.At, e.From, e.To = fromMS(at), queue.State(from.String), queue.State(to)
		e.Worker, e.Error, e.Schedule = worker.String, errText.String, schedule.String
		out = append(out, e)
		return nil
	})
	if params.Last > 0 {
		slices.Reverse(out)
	}
	return out, err
}
