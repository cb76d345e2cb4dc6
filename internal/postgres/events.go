package postgres

import (
	"context"
	"database/sql"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// EventList returns logged transitions, oldest first; see queue.Store.
// Event IDs are in commit order (the write lock), so a follower that asks
// for the events after the last it saw misses none.
func (s *Store) EventList(ctx context.Context, params queue.EventListParams) ([]queue.Event, error) {
	var p placeholders
	where := "id > " + p.add(params.AfterID)
	if params.JobID != 0 {
		where += " AND job_id = " + p.add(params.JobID)
	}
	order := "id"
	if params.Last > 0 {
		order = "id DESC LIMIT " + strconv.Itoa(params.Last)
	}
	var out []queue.Event
	err := eachRow(ctx, s.pool, `SELECT id, job_id, at, from_state, to_state, attempt, worker, error, schedule
		FROM events WHERE `+where+` ORDER BY `+order, p.args, func(rows pgx.Rows) error {
		var e queue.Event
		var at int64
		var from, worker, schedule sql.NullString
		var errText []byte
		var to string
		if err := rows.Scan(&e.ID, &e.JobID, &at, &from, &to, &e.Attempt, &worker, &errText, &schedule); err != nil {
			return err
		}
		e.At, e.From, e.To = fromMS(at), queue.State(from.String), queue.State(to)
		e.Worker, e.Error, e.Schedule = worker.String, string(errText), schedule.String
		out = append(out, e)
		return nil
	})
	if params.Last > 0 {
		slices.Reverse(out)
	}
	return out, err
}
