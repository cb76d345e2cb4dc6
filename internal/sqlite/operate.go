package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jobq/jobq/internal/queue"
)

// jobFilter is the SQL condition selecting the jobs of f (never empty),
// and its arguments. Its Limit is the caller's to apply.
func jobFilter(f queue.JobFilter) (string, []any) {
	where := []string{"1"}
	var args []any
	in := func(column string, n int) {
		where = append(where, column+" IN ("+placeholders(n)+")")
	}
	if len(f.IDs) > 0 {
		in("id", len(f.IDs))
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(f.States) > 0 {
		var or []string
		now := ms(f.Now)
		for _, st := range f.States {
			switch st {
			case queue.StatePending:
				or = append(or, "state = 'pending' OR (state IN ('scheduled', 'retrying') AND run_at <= ?)")
				args = append(args, now)
			case queue.StateScheduled, queue.StateRetrying:
				or = append(or, "(state = ? AND run_at > ?)")
				args = append(args, string(st), now)
			default:
				or = append(or, "state = ?")
				args = append(args, string(st))
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if len(f.Queues) > 0 {
		in("queue", len(f.Queues))
		for _, q := range f.Queues {
			args = append(args, q)
		}
	}
	if len(f.ExitCodes) > 0 {
		in("exit_code", len(f.ExitCodes))
		for _, c := range f.ExitCodes {
			args = append(args, c)
		}
	}
	if f.Error != "" {
		where = append(where, "instr(last_error, ?) > 0")
		args = append(args, f.Error)
	}
	// A final job's time is when it ended; the plain column lets
	// retention's deletes go through jobs_finished.
	at := "coalesce(finished_at, created_at)"
	if onlyFinal(f.States) {
		at = "finished_at"
	}
	if !f.Since.IsZero() {
		where = append(where, at+" >= ?")
		args = append(args, ms(f.Since))
	}
	if !f.Before.IsZero() {
		where = append(where, at+" < ?")
		args = append(args, ms(f.Before))
	}
	return strings.Join(where, " AND "), args
}

// onlyFinal reports whether states are all final, and at least one.
func onlyFinal(states []queue.State) bool {
	return len(states) > 0 && !slices.ContainsFunc(states, func(s queue.State) bool { return !s.Final() })
}

// deleteBatch bounds the IDs one statement deletes the events of.
const deleteBatch = 1000

// deleteJobs is the statement that deletes filter's jobs, never running
// ones, oldest first, and its arguments. Deleting final jobs by age, as
// retention does, goes through jobs_finished.
func deleteJobs(filter queue.JobFilter) (string, []any) {
	where, args := jobFilter(filter)
	from, order := "jobs", "id"
	if onlyFinal(filter.States) && !filter.Before.IsZero() {
		from, order = "jobs INDEXED BY jobs_finished", "finished_at, id"
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return `DELETE FROM jobs WHERE id IN (
		SELECT id FROM ` + from + ` WHERE ` + where + ` AND state != 'running'
		ORDER BY ` + order + ` LIMIT ?)
		RETURNING id`, append(args, limit)
}

// JobDelete deletes jobs, their attempts (by foreign key) and their
// events; see queue.Store.
func (s *Store) JobDelete(ctx context.Context, filter queue.JobFilter) (int, error) {
	query, args := deleteJobs(filter)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, interpretError(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, interpretError(err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, interpretError(err)
	}
	for part := range slices.Chunk(ids, deleteBatch) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE job_id IN ("+placeholders(len(part))+")", part...); err != nil {
			return 0, interpretError(err)
		}
	}
	return len(ids), interpretError(tx.Commit())
}

// retryJob gives one job a fresh attempt budget, waiting while one of its
// dependencies has not succeeded, as jobs_dependency_succeeded (migration
// 0001) judges them.
const retryJob = `UPDATE jobs SET
	state = CASE WHEN EXISTS (
		SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
		WHERE d.job_id = jobs.id AND p.state IS NOT 'succeeded') THEN 'waiting' ELSE 'pending' END,
	attempts = 0, run_at = ?, updated_at = ?, finished_at = NULL, exit_code = NULL,
	signal = NULL, last_error = NULL, worker = NULL, lease_until = NULL, cancel_requested = 0` +
	clearProgress + `
WHERE id = ?
RETURNING state`

// JobRetry retries jobs; see queue.Store. A dry run makes the same changes
// in a transaction it then rolls back, so it reports exactly what a real
// one would have done at that moment.
func (s *Store) JobRetry(ctx context.Context, params queue.JobRetryParams) ([]queue.JobRetryResult, error) {
	f := params.Filter
	where, args := jobFilter(f)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	jobs, err := s.queryJobs(ctx, tx, "SELECT "+jobColumns+" FROM jobs WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	var out []queue.JobRetryResult
	if len(f.IDs) > 0 {
		byID := make(map[int64]*queue.Job, len(jobs))
		for _, j := range jobs {
			byID[j.ID] = j
		}
		for _, id := range f.IDs {
			out = append(out, queue.JobRetryResult{ID: id, Job: byID[id]})
		}
	} else {
		for _, j := range jobs {
			out = append(out, queue.JobRetryResult{ID: j.ID, Job: j})
		}
	}
	now := ms(f.Now)
	done := map[int64]queue.State{}
	for i := range out {
		r := &out[i]
		if st, ok := done[r.ID]; ok { // named twice
			r.State = st
			continue
		}
		if r.Job == nil {
			r.Reason = "not found"
			continue
		}
		if st := r.Job.StateAt(f.Now); !st.Retryable() {
			r.Reason = fmt.Sprintf("it is %s", st)
			continue
		}
		if r.Job.UniqueKey != "" {
			var holder int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE unique_key = ? AND id != ?
				AND state NOT IN ('succeeded', 'dead', 'cancelled')`, r.Job.UniqueKey, r.ID).Scan(&holder)
			switch {
			case err == nil:
				r.Reason = fmt.Sprintf("job %d holds its unique key %q", holder, r.Job.UniqueKey)
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return nil, interpretError(err)
			}
		}
		var state string
		if err := tx.QueryRowContext(ctx, retryJob, now, now, r.ID).Scan(&state); err != nil {
			return nil, interpretError(fmt.Errorf("retry job %d: %w", r.ID, err))
		}
		r.State = queue.State(state)
		done[r.ID] = r.State
	}
	if params.DryRun {
		return out, nil // the deferred Rollback undoes it all
	}
	return out, interpretError(tx.Commit())
}

// JobProgress records a running job's progress; see queue.Store.
func (s *Store) JobProgress(ctx context.Context, params queue.JobProgressParams) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, `UPDATE jobs SET progress = ?, progress_message = ?, progress_at = ?
		WHERE id = ? AND state = 'running' AND attempts = ?`,
		params.Percent, nullString(params.Message), ms(params.At), params.ID, params.Attempt)
	if err != nil {
		return interpretError(err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM jobs WHERE id = ?", params.ID).Scan(&one); err != nil {
			return interpretError(err)
		}
		return queue.ErrNotRunning
	}
	return interpretError(tx.Commit())
}

// QueueStats sums up every queue; see queue.Store. Counts come from
// job_counts, the rest from the indexes the schema keeps for it, so
// that its cost grows with the number of queues, not of jobs.
func (s *Store) QueueStats(ctx context.Context, params queue.QueueStatsParams) ([]queue.QueueStats, error) {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	byName := map[string]*queue.QueueStats{}
	get := func(name string) *queue.QueueStats {
		q, ok := byName[name]
		if !ok {
			q = &queue.QueueStats{QueueSettings: queue.QueueSettings{Name: name}, Counts: map[queue.State]int{}}
			byName[name] = q
		}
		return q
	}
	settings, err := queueSettings(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, qs := range settings {
		get(qs.Name).QueueSettings = qs
	}
	err = eachRow(ctx, tx, "SELECT queue, state, n FROM job_counts WHERE n > 0", nil, func(rows *sql.Rows) error {
		var name, state string
		var n int
		if err := rows.Scan(&name, &state, &n); err != nil {
			return err
		}
		get(name).Counts[queue.State(state)] += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	now := ms(params.Now)
	for _, q := range byName {
		if err := readyStats(ctx, tx, q, now); err != nil {
			return nil, err
		}
	}
	err = eachRow(ctx, tx, `SELECT queue, state, count(*) FROM jobs INDEXED BY jobs_finished
		WHERE state IN ('succeeded', 'dead') AND finished_at >= ?
		GROUP BY queue, state`, []any{ms(params.RecentSince)}, func(rows *sql.Rows) error {
		var name, state string
		var n int
		if err := rows.Scan(&name, &state, &n); err != nil {
			return err
		}
		if q := get(name); queue.State(state) == queue.StateSucceeded {
			q.RecentSucceeded = n
		} else {
			q.RecentDead = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]queue.QueueStats, 0, len(byName))
	for _, q := range byName {
		for st, n := range q.Counts {
			if n == 0 {
				delete(q.Counts, st)
			}
		}
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b queue.QueueStats) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// readyStats counts q's scheduled and retrying jobs whose time has come as
// pending, and finds its oldest ready job, through jobs_queue_ready: the
// least run_at of each state is the head of its range, and the due ones
// are counted by a range that ends at now.
func readyStats(ctx context.Context, tx *sql.Tx, q *queue.QueueStats, now int64) error {
	for _, st := range []queue.State{queue.StatePending, queue.StateScheduled, queue.StateRetrying} {
		if q.Counts[st] == 0 {
			continue
		}
		// The planner takes a partial index only for a query that repeats
		// the index's own condition, and a literal state to search by.
		count := "count(*)"
		if st == queue.StatePending {
			count = "0" // all ready: only the head of the range is read
		}
		var n int
		var oldest sql.NullInt64
		query := `SELECT ` + count + `, min(run_at) FROM jobs INDEXED BY jobs_queue_ready
			WHERE state IN ('pending', 'scheduled', 'retrying')
				AND queue = ? AND state = '` + string(st) + `' AND run_at <= ?`
		if err := tx.QueryRowContext(ctx, query, q.Name, now).Scan(&n, &oldest); err != nil {
			return interpretError(err)
		}
		if n > 0 {
			q.Counts[st] -= n
			q.Counts[queue.StatePending] += n
		}
		if at := fromNullMS(oldest); !at.IsZero() && (q.OldestReady.IsZero() || at.Before(q.OldestReady)) {
			q.OldestReady = at
		}
	}
	return nil
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
	err := eachRow(ctx, s.reader, `SELECT id, job_id, at, from_state, to_state, attempt, worker, error
		FROM events WHERE `+where+` ORDER BY `+order+` LIMIT ?`, append(args, limit), func(rows *sql.Rows) error {
		var e queue.Event
		var at int64
		var from, worker, errText sql.NullString
		var to string
		if err := rows.Scan(&e.ID, &e.JobID, &at, &from, &to, &e.Attempt, &worker, &errText); err != nil {
			return err
		}
		e.At, e.From, e.To = fromMS(at), queue.State(from.String), queue.State(to)
		e.Worker, e.Error = worker.String, errText.String
		out = append(out, e)
		return nil
	})
	if params.Last > 0 {
		slices.Reverse(out)
	}
	return out, err
}
