package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

const scheduleColumns = `id, name, expr, zone, overlap, jitter_ms, description, paused,
	next_at, due_at, created_at, queue, priority, command, argv, dir, env, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, last_success_at, failures, active_since`

func scanSchedule(row scanner) (*queue.Schedule, error) {
	var s queue.Schedule
	var overlap string
	var description, permanent sql.NullString
	var argv, env []byte
	var jitter, next, due, created, activeSince, timeout, backoff, maxBackoff int64
	var lastSuccess sql.NullInt64
	j := &s.Job
	if err := row.Scan(&s.ID, &s.Name, &s.Expr, &s.Zone, &overlap, &jitter, &description, &s.Paused,
		&next, &due, &created, &j.Queue, &j.Priority, &j.Command, &argv, &j.Dir, &env,
		&j.MaxAttempts, &timeout, &backoff, &maxBackoff, &permanent, &lastSuccess, &s.Failures, &activeSince); err != nil {
		return nil, err
	}
	s.LastSuccess = fromNullMS(lastSuccess)
	s.Overlap, s.Description = queue.Overlap(overlap), description.String
	s.Jitter = time.Duration(jitter) * time.Millisecond
	s.NextAt, s.DueAt, s.CreatedAt, s.ActiveSince = fromMS(next), fromMS(due), fromMS(created), fromMS(activeSince)
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
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	ids := make([]int64, len(params))
	for i, p := range params {
		sc, j := &p.Schedule, &p.Schedule.Job
		now := ms(p.Now)
		settings := []any{sc.Expr, sc.Zone, string(sc.Overlap), sc.Jitter.Milliseconds(),
			nullString(sc.Description), ms(sc.NextAt), ms(sc.DueAt), now,
			j.Queue, j.Priority, j.Command, joinNUL(j.Argv), j.Dir, nullBytes(joinNUL(j.Env)),
			j.MaxAttempts, j.Timeout.Milliseconds(), j.Backoff.Milliseconds(), j.MaxBackoff.Milliseconds(),
			nullString(queue.FormatExitCodes(j.PermanentExit))}
		err := tx.QueryRowContext(ctx, "SELECT id FROM schedules WHERE name = ?", sc.Name).Scan(&ids[i])
		switch {
		case err == nil && !p.Replace:
			return nil, fmt.Errorf("schedule %s: %w", sc.Name, queue.ErrExists)
		case err == nil:
			// A description is kept unless a new one is given: an
			// imported schedule's comment outlives schedule add --replace,
			// which has none to give.
			_, err = tx.ExecContext(ctx, `UPDATE schedules SET expr = ?, zone = ?, overlap = ?,
				jitter_ms = ?, description = COALESCE(?, description), next_at = ?, due_at = ?, updated_at = ?, queue = ?,
				priority = ?, command = ?, argv = ?, dir = ?, env = ?, max_attempts = ?, timeout_ms = ?,
				backoff_ms = ?, max_backoff_ms = ?, permanent_exit = ? WHERE id = ?`, append(settings, ids[i])...)
		case errors.Is(err, sql.ErrNoRows):
			var res sql.Result
			res, err = tx.ExecContext(ctx, `INSERT INTO schedules (expr, zone, overlap, jitter_ms,
				description, next_at, due_at, updated_at, queue, priority, command, argv, dir, env,
				max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, name, created_at, active_since)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				append(settings, sc.Name, now, now)...)
			if err == nil {
				ids[i], err = res.LastInsertId()
			}
		}
		if err != nil {
			return nil, interpretError(fmt.Errorf("add schedule %s: %w", sc.Name, err))
		}
	}
	return ids, interpretError(tx.Commit())
}

// ScheduleGet returns one schedule with its last job and health.
func (s *Store) ScheduleGet(ctx context.Context, name string) (*queue.Schedule, error) {
	sc, err := scanSchedule(s.reader.QueryRowContext(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE name = ?", name))
	if err != nil {
		return nil, interpretError(err)
	}
	return sc, s.scheduleHealth(ctx, sc)
}

// ScheduleList returns every schedule by name, with health.
func (s *Store) ScheduleList(ctx context.Context) ([]*queue.Schedule, error) {
	var out []*queue.Schedule
	err := eachRow(ctx, s.reader, "SELECT "+scheduleColumns+" FROM schedules ORDER BY name", nil, func(rows *sql.Rows) error {
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
// kept by a trigger (migration 0002) as its jobs end, so that they
// outlive the jobs that retention deletes.
func (s *Store) scheduleHealth(ctx context.Context, sc *queue.Schedule) error {
	last, err := scanReadJob(s.reader.QueryRowContext(ctx, "SELECT "+readColumns+
		" FROM jobs WHERE schedule_id = ? ORDER BY id DESC LIMIT 1", sc.ID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return interpretError(err)
	}
	sc.LastJob = last
	return nil
}

// ScheduleDelete deletes a schedule; its jobs stay.
func (s *Store) ScheduleDelete(ctx context.Context, name string) error {
	return s.updateSchedule(ctx, "DELETE FROM schedules WHERE name = ?", name)
}

// ScheduleSet pauses or resumes a schedule; a resume of a paused one
// makes it active since now.
func (s *Store) ScheduleSet(ctx context.Context, params queue.ScheduleSetParams) error {
	if params.Paused {
		return s.updateSchedule(ctx, "UPDATE schedules SET paused = 1, updated_at = ? WHERE name = ?",
			ms(params.Now), params.Name)
	}
	return s.updateSchedule(ctx, `UPDATE schedules SET paused = 0, next_at = ?, due_at = ?, updated_at = ?3,
		active_since = CASE WHEN paused THEN ?3 ELSE active_since END
		WHERE name = ?4`, ms(params.NextAt), ms(params.DueAt), ms(params.Now), params.Name)
}

// updateSchedule runs a statement that changes one schedule, and says
// queue.ErrNotFound when it changed none.
func (s *Store) updateSchedule(ctx context.Context, query string, args ...any) error {
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return interpretError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(err, queue.ErrNotFound)
	}
	return nil
}

// ScheduleFire fires the due schedules; see queue.Store.
func (s *Store) ScheduleFire(ctx context.Context, params queue.ScheduleFireParams) (*queue.ScheduleFireResult, error) {
	now := ms(params.Now)
	res := &queue.ScheduleFireResult{}
	// Most calls find nothing due: a read, without the write lock.
	due, err := nextDue(ctx, s.reader)
	if err != nil || due.IsZero() || due.After(params.Now) {
		res.NextDueAt = due
		return res, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	var schedules []*queue.Schedule
	err = eachRow(ctx, tx, "SELECT "+scheduleColumns+` FROM schedules
		WHERE paused = 0 AND due_at <= ? ORDER BY due_at, id`, []any{now}, func(rows *sql.Rows) error {
		sc, err := scanSchedule(rows)
		if err == nil {
			schedules = append(schedules, sc)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, sc := range schedules {
		fired, ok, err := s.fireSchedule(ctx, tx, sc, params)
		if err != nil {
			return nil, fmt.Errorf("fire schedule %s: %w", sc.Name, err)
		}
		if ok {
			res.Fired = append(res.Fired, fired)
		}
	}
	if res.NextDueAt, err = nextDue(ctx, tx); err != nil {
		return nil, err
	}
	return res, interpretError(tx.Commit())
}

// fireSchedule fires one due schedule in tx; ok is false when another
// firing moved it on first.
func (s *Store) fireSchedule(ctx context.Context, tx *sql.Tx, sc *queue.Schedule, params queue.ScheduleFireParams) (queue.ScheduleFired, bool, error) {
	now := ms(params.Now)
	plan, err := sc.Fire(params.Now, params.Jitter())
	if err != nil {
		return queue.ScheduleFired{}, false, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE schedules SET next_at = ?, due_at = ?, updated_at = ?
		WHERE id = ? AND next_at = ?`, ms(plan.Next), ms(plan.Due), now, sc.ID, ms(sc.NextAt))
	if err != nil {
		return queue.ScheduleFired{}, false, interpretError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return queue.ScheduleFired{}, false, err
	}
	last := &queue.Job{} // the schedule's newest job; nil when none
	err = tx.QueryRowContext(ctx, `SELECT id, state, run FROM jobs WHERE schedule_id = ?
		ORDER BY id DESC LIMIT 1`, sc.ID).Scan(&last.ID, &last.State, &last.Run)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		last = nil
	case err != nil:
		return queue.ScheduleFired{}, false, interpretError(err)
	}
	tick := sc.FireTick(plan, last, params.Now)
	if e := tick.Skip; e != nil {
		_, err := tx.ExecContext(ctx, `INSERT INTO events (job_id, at, from_state, to_state, attempt, error, schedule)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.JobID, ms(e.At), string(e.From), string(e.To), e.Attempt, e.Error, e.Schedule)
		return tick.Fired, true, interpretError(err)
	}
	if tick.Cancel != 0 {
		if _, _, _, err := s.cancelJob(ctx, tx, tick.Cancel, now); err != nil {
			return tick.Fired, false, err
		}
	}
	ids, err := s.insertJobs(ctx, tx, queue.Jobs(*tick.Job))
	if err != nil {
		return tick.Fired, false, err
	}
	tick.Fired.JobID = ids[0]
	return tick.Fired, true, nil
}

// nextDue is the earliest due_at of a schedule not paused; zero when none.
func nextDue(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (time.Time, error) {
	var due sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT min(due_at) FROM schedules WHERE paused = 0").Scan(&due)
	return fromNullMS(due), interpretError(err)
}
