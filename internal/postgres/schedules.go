package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

const scheduleColumns = `id, name, expr, zone, overlap, jitter_ms, description, paused,
	next_at, due_at, created_at, queue, priority, command, argv, dir, env, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, last_success_at, failures, active_since`

func scanSchedule(row pgx.Row) (*queue.Schedule, error) {
	var s queue.Schedule
	var overlap string
	var description, permanent sql.NullString
	var command, argv, dir, env []byte
	var jitter, next, due, created, activeSince, timeout, backoff, maxBackoff int64
	var lastSuccess sql.NullInt64
	j := &s.Job
	if err := row.Scan(&s.ID, &s.Name, &s.Expr, &s.Zone, &overlap, &jitter, &description, &s.Paused,
		&next, &due, &created, &j.Queue, &j.Priority, &command, &argv, &dir, &env,
		&j.MaxAttempts, &timeout, &backoff, &maxBackoff, &permanent, &lastSuccess, &s.Failures, &activeSince); err != nil {
		return nil, interpretError(err)
	}
	s.LastSuccess = fromNullMS(lastSuccess)
	s.Overlap, s.Description = queue.Overlap(overlap), description.String
	s.Jitter = time.Duration(jitter) * time.Millisecond
	s.NextAt, s.DueAt, s.CreatedAt, s.ActiveSince = fromMS(next), fromMS(due), fromMS(created), fromMS(activeSince)
	j.Command, j.Dir = string(command), string(dir)
	j.Argv, j.Env = splitNUL(argv), splitNUL(env)
	j.Timeout = time.Duration(timeout) * time.Millisecond
	j.Backoff = time.Duration(backoff) * time.Millisecond
	j.MaxBackoff = time.Duration(maxBackoff) * time.Millisecond
	var err error
	if j.PermanentExit, err = queue.ParseExitCodes(permanent.String); err != nil {
		return nil, fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	return &s, nil
}

// ScheduleAdd adds schedules all or nothing; see queue.Store.
func (s *Store) ScheduleAdd(ctx context.Context, params []queue.ScheduleAddParams) ([]int64, error) {
	ids := make([]int64, len(params))
	err := s.write(ctx, func(tx pgx.Tx) error {
		for i, p := range params {
			sc, j := &p.Schedule, &p.Schedule.Job
			now := ms(p.Now)
			var env []byte
			if len(j.Env) > 0 {
				env = joinNUL(j.Env)
			}
			settings := []any{sc.Expr, sc.Zone, string(sc.Overlap), sc.Jitter.Milliseconds(),
				nullString(sc.Description), ms(sc.NextAt), ms(sc.DueAt), now,
				j.Queue, int64(j.Priority), []byte(j.Command), joinNUL(j.Argv), []byte(j.Dir), env,
				int64(j.MaxAttempts), j.Timeout.Milliseconds(), j.Backoff.Milliseconds(), j.MaxBackoff.Milliseconds(),
				nullString(queue.FormatExitCodes(j.PermanentExit))}
			err := tx.QueryRow(ctx, "SELECT id FROM schedules WHERE name = $1", sc.Name).Scan(&ids[i])
			switch {
			case err == nil && !p.Replace:
				return fmt.Errorf("schedule %s: %w", sc.Name, queue.ErrExists)
			case err == nil:
				// A description is kept unless a new one is given.
				_, err = tx.Exec(ctx, `UPDATE schedules SET expr = $1, zone = $2, overlap = $3,
					jitter_ms = $4, description = COALESCE($5, description), next_at = $6, due_at = $7,
					updated_at = $8, queue = $9, priority = $10, command = $11, argv = $12, dir = $13,
					env = $14, max_attempts = $15, timeout_ms = $16, backoff_ms = $17,
					max_backoff_ms = $18, permanent_exit = $19 WHERE id = $20`, append(settings, ids[i])...)
			case errors.Is(err, pgx.ErrNoRows):
				err = tx.QueryRow(ctx, `INSERT INTO schedules (expr, zone, overlap, jitter_ms,
					description, next_at, due_at, updated_at, queue, priority, command, argv, dir, env,
					max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, name, created_at, active_since)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
					$18, $19, $20, $21, $21) RETURNING id`, append(settings, sc.Name, now)...).Scan(&ids[i])
			}
			if err != nil {
				return interpretError(fmt.Errorf("add schedule %s: %w", sc.Name, err))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// ScheduleGet returns one schedule with its last job and health.
func (s *Store) ScheduleGet(ctx context.Context, name string) (*queue.Schedule, error) {
	sc, err := scanSchedule(s.pool.QueryRow(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE name = $1", name))
	if err != nil {
		return nil, err
	}
	return sc, s.scheduleHealth(ctx, sc)
}

// ScheduleList returns every schedule by name, with health.
func (s *Store) ScheduleList(ctx context.Context) ([]*queue.Schedule, error) {
	var out []*queue.Schedule
	err := eachRow(ctx, s.pool, "SELECT "+scheduleColumns+" FROM schedules ORDER BY name", nil, func(rows pgx.Rows) error {
		sc, err := scanSchedule(rows)
		if err == nil {
			out = append(out, sc)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, sc := range out {
		if err := s.scheduleHealth(ctx, sc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scheduleHealth fills in sc's last job from the jobs_schedule index; its
// last success and failures in a row are the schedule's own columns,
// kept by a trigger (jobs_ended) as its jobs end, so that they outlive
// the jobs that retention deletes.
func (s *Store) scheduleHealth(ctx context.Context, sc *queue.Schedule) error {
	last, err := scanReadJob(s.pool.QueryRow(ctx, "SELECT "+readColumns+
		" FROM jobs WHERE schedule_id = $1 ORDER BY id DESC LIMIT 1", sc.ID))
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	sc.LastJob = last
	return nil
}

// ScheduleDelete deletes a schedule; its jobs stay.
func (s *Store) ScheduleDelete(ctx context.Context, name string) error {
	return s.updateSchedule(ctx, "DELETE FROM schedules WHERE name = $1", name)
}

// ScheduleSet pauses or resumes a schedule; a resume of a paused one
// makes it active since now.
func (s *Store) ScheduleSet(ctx context.Context, params queue.ScheduleSetParams) error {
	if params.Paused {
		return s.updateSchedule(ctx, "UPDATE schedules SET paused = true, updated_at = $1 WHERE name = $2",
			ms(params.Now), params.Name)
	}
	return s.updateSchedule(ctx, `UPDATE schedules SET paused = false, next_at = $1, due_at = $2, updated_at = $3,
		active_since = CASE WHEN paused THEN $3 ELSE active_since END
		WHERE name = $4`, ms(params.NextAt), ms(params.DueAt), ms(params.Now), params.Name)
}

// updateSchedule runs a statement that changes one schedule, and says
// queue.ErrNotFound when it changed none. It notifies, so that a worker
// waiting for the next tick hears of a new one; it logs no event and
// needs no write lock.
func (s *Store) updateSchedule(ctx context.Context, query string, args ...any) error {
	return s.inTx(ctx, false, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return interpretError(err)
		}
		if tag.RowsAffected() == 0 {
			return queue.ErrNotFound
		}
		return nil
	})
}

// ScheduleFire fires the due schedules; see queue.Store. Each tick is
// fired once across hosts by the compare and set on next_at, as on
// SQLite: a firing that read the row before another moved it on changes
// nothing.
func (s *Store) ScheduleFire(ctx context.Context, params queue.ScheduleFireParams) (*queue.ScheduleFireResult, error) {
	now := ms(params.Now)
	res := &queue.ScheduleFireResult{}
	// Most calls find nothing due: a read, without the write lock.
	due, err := nextDue(ctx, s.pool)
	if err != nil || due.IsZero() || due.After(params.Now) {
		res.NextDueAt = due
		return res, err
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		var schedules []*queue.Schedule
		err := eachRow(ctx, tx, "SELECT "+scheduleColumns+` FROM schedules
			WHERE NOT paused AND due_at <= $1 ORDER BY due_at, id`, []any{now}, func(rows pgx.Rows) error {
			sc, err := scanSchedule(rows)
			if err == nil {
				schedules = append(schedules, sc)
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, sc := range schedules {
			fired, ok, err := fireSchedule(ctx, tx, sc, params)
			if err != nil {
				return fmt.Errorf("fire schedule %s: %w", sc.Name, err)
			}
			if ok {
				res.Fired = append(res.Fired, fired)
			}
		}
		res.NextDueAt, err = nextDue(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// fireSchedule fires one due schedule in tx; ok is false when another
// firing moved it on first.
func fireSchedule(ctx context.Context, tx pgx.Tx, sc *queue.Schedule, params queue.ScheduleFireParams) (queue.ScheduleFired, bool, error) {
	now := ms(params.Now)
	plan, err := sc.Fire(params.Now, params.Jitter())
	if err != nil {
		return queue.ScheduleFired{}, false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE schedules SET next_at = $1, due_at = $2, updated_at = $3
		WHERE id = $4 AND next_at = $5`, ms(plan.Next), ms(plan.Due), now, sc.ID, ms(sc.NextAt))
	if err != nil {
		return queue.ScheduleFired{}, false, interpretError(err)
	}
	if tag.RowsAffected() == 0 {
		return queue.ScheduleFired{}, false, nil
	}
	last := &queue.Job{} // the schedule's newest job; nil when none
	err = tx.QueryRow(ctx, `SELECT id, state, run FROM jobs WHERE schedule_id = $1
		ORDER BY id DESC LIMIT 1`, sc.ID).Scan(&last.ID, &last.State, &last.Run)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		last = nil
	case err != nil:
		return queue.ScheduleFired{}, false, interpretError(err)
	}
	tick := sc.FireTick(plan, last, params.Now)
	if e := tick.Skip; e != nil {
		_, err := tx.Exec(ctx, `INSERT INTO events (job_id, at, from_state, to_state, attempt, error, schedule)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.JobID, ms(e.At), string(e.From), string(e.To), int64(e.Attempt),
			[]byte(e.Error), e.Schedule)
		return tick.Fired, true, interpretError(err)
	}
	if tick.Cancel != 0 {
		if _, _, _, err := cancelJob(ctx, tx, tick.Cancel, now); err != nil {
			return tick.Fired, false, err
		}
	}
	ids, err := insertJobs(ctx, tx, [][]queue.JobInsertParams{{*tick.Job}})
	if err != nil {
		return tick.Fired, false, err
	}
	tick.Fired.JobID = ids[0]
	return tick.Fired, true, nil
}

// nextDue is the earliest due_at of a schedule not paused; zero when none.
func nextDue(ctx context.Context, q querier) (time.Time, error) {
	var due sql.NullInt64
	err := q.QueryRow(ctx, "SELECT min(due_at) FROM schedules WHERE NOT paused").Scan(&due)
	return fromNullMS(due), interpretError(err)
}
