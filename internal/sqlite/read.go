package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/jobq/jobq/internal/queue"
)

// JobGet returns one job or queue.ErrNotFound.
func (s *Store) JobGet(ctx context.Context, id int64) (*queue.Job, error) {
	// Read as rows, not a row: a row that cannot be scanned is scanned
	// again as it is (scanError), which a single row cannot be.
	jobs, err := scanJobs(ctx, s.reader, scanReadJob, "SELECT "+readColumns+" FROM jobs WHERE id = ?", id)
	if err != nil {
		return nil, interpretError(err)
	}
	if len(jobs) == 0 {
		return nil, queue.ErrNotFound
	}
	return jobs[0], loadDependencies(ctx, s.reader, jobs)
}

// JobList returns the jobs filter selects, newest first; see queue.Store.
func (s *Store) JobList(ctx context.Context, filter queue.JobFilter) ([]*queue.Job, error) {
	query, args := listJobs(filter)
	jobs, err := scanJobs(ctx, s.reader, scanReadJob, query, args...)
	if err != nil || len(jobs) == 0 {
		return jobs, err
	}
	return jobs, loadDependencies(ctx, s.reader, jobs)
}

// listJobs is JobList's statement and its arguments. The newest few
// pending jobs, as users see them, are found without a sort of them all:
// the pending ones in ID order, newest first (jobs_state), merged with the
// scheduled and retrying jobs whose time has come, found by the head of
// their ranges of jobs_queue_ready (dueTimedJobs), and with the jobs of
// the other states asked, each arm in ID order (UNION ALL with an ORDER
// BY is a merge of ordered arms in SQLite; TestListQueryPlans). In one
// condition, SQLite gathered every pending job and sorted them.
func listJobs(filter queue.JobFilter) (string, []any) {
	if filter.Limit <= 0 || !slices.Contains(filter.States, queue.StatePending) {
		where, args := jobFilter(filter)
		query := "SELECT " + readColumns + " FROM jobs WHERE " + where + " ORDER BY id DESC"
		if filter.Limit > 0 {
			query += " LIMIT ?"
			args = append(args, filter.Limit)
		}
		return query, args
	}
	rest := filter
	rest.States = nil
	where, restArgs := jobFilter(rest)
	// The due jobs of the filter's queues only: the queue condition of
	// where applies after dueTimedJobs has read every queue's.
	dueIn, dueArgs := columnIn("c.queue", filter.Queues)
	arms := []string{
		"SELECT id FROM jobs WHERE " + where + " AND state = 'pending'",
		"SELECT id FROM jobs WHERE " + where + " AND id IN (" + dueTimedJobs + dueIn + ")",
	}
	args := slices.Concat(restArgs, restArgs, []any{ms(filter.Now)}, dueArgs)
	if others := slices.DeleteFunc(slices.Clone(filter.States), func(st queue.State) bool {
		return st == queue.StatePending
	}); len(others) > 0 {
		other := filter
		other.States = others
		where, otherArgs := jobFilter(other)
		arms = append(arms, "SELECT id FROM jobs WHERE "+where)
		args = append(args, otherArgs...)
	}
	return "SELECT " + readColumns + " FROM jobs WHERE id IN (SELECT id FROM (" +
		strings.Join(arms, " UNION ALL ") + " ORDER BY id DESC LIMIT ?)) ORDER BY id DESC", append(args, filter.Limit)
}

// dueTimedJobs lists the scheduled and retrying jobs whose time has come
// (pending to users): for each queue and state that holds some
// (job_counts), the head of its range of jobs_queue_ready up to now.
// CROSS JOIN keeps job_counts first: left to choose, SQLite read every
// scheduled and retrying job through jobs_state.
var dueTimedJobs = `SELECT j.id FROM job_counts c CROSS JOIN jobs j ON j.queue = c.queue AND j.state = c.state
	WHERE c.state IN (` + sqlStates(queue.TimedStates) + `) AND c.n > 0 AND ` + sqlOneOf("j.state", queue.ReadyStates) + ` AND j.run_at <= ?`

// JobCount counts the jobs filter selects, whatever its Limit. A filter
// of queues and states alone is counted from job_counts, as stats counts
// (jobq list counts what it did not show, and by an index that cost a
// read of every job counted: all the succeeded jobs of a long-lived
// queue, or a big queue's whole backlog); of the scheduled and retrying
// jobs, which users see as pending once their time has come, those whose
// time has come are counted by the head of their range of
// jobs_queue_ready (readyStatsQuery). All in one snapshot.
func (s *Store) JobCount(ctx context.Context, filter queue.JobFilter) (int, error) {
	if !countedByQueueAndState(filter) {
		where, args := jobFilter(filter)
		var n int
		err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE "+where, args...).Scan(&n)
		return n, interpretError(err)
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, interpretError(err)
	}
	defer tx.Rollback()
	query := "SELECT queue, state, n FROM job_counts WHERE n > 0"
	var args []any
	if len(filter.Queues) > 0 {
		query += " AND queue IN (" + placeholders(len(filter.Queues)) + ")"
		for _, q := range filter.Queues {
			args = append(args, q)
		}
	}
	type count struct {
		queue string
		state queue.State
		n     int
	}
	var counts []count
	err = eachRow(ctx, tx, query, args, func(rows *sql.Rows) error {
		var c count
		if err := rows.Scan(&c.queue, &c.state, &c.n); err != nil {
			return err
		}
		counts = append(counts, c)
		return nil
	})
	if err != nil {
		return 0, err
	}
	wanted := func(st queue.State) bool { return len(filter.States) == 0 || slices.Contains(filter.States, st) }
	total := 0
	for _, c := range counts {
		if !slices.Contains(queue.TimedStates, c.state) || len(filter.States) == 0 {
			if wanted(c.state) {
				total += c.n
			}
			continue
		}
		if !wanted(c.state) && !wanted(queue.StatePending) {
			continue
		}
		var due int
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, readyStatsQuery(c.state), c.queue, ms(filter.Now)).Scan(&due, &first); err != nil {
			return 0, interpretError(err)
		}
		if wanted(queue.StatePending) {
			total += due
		}
		if wanted(c.state) {
			total += c.n - due
		}
	}
	return total, nil
}

// countedByQueueAndState says whether JobCount counts filter's jobs from
// job_counts: whether it selects by queue and state alone.
func countedByQueueAndState(filter queue.JobFilter) bool {
	return len(filter.IDs) == 0 && len(filter.ExitCodes) == 0 && filter.Error == "" && filter.ScheduleID == 0 &&
		filter.Since.IsZero() && filter.Before.IsZero()
}

// loadDependencies fills in the DependsOn of jobs, by primary key, a
// chunk of IDs at a time.
func loadDependencies(ctx context.Context, q queryer, jobs []*queue.Job) error {
	byID := make(map[int64]*queue.Job, len(jobs))
	ids := make([]any, len(jobs))
	for i, j := range jobs {
		byID[j.ID] = j
		ids[i] = j.ID
	}
	for part := range slices.Chunk(ids, 500) {
		err := eachRow(ctx, q, `SELECT job_id, depends_on FROM job_deps
			WHERE job_id IN (`+placeholders(len(part))+`) ORDER BY job_id, depends_on`, part, func(rows *sql.Rows) error {
			var id, dep int64
			if err := rows.Scan(&id, &dep); err != nil {
				return err
			}
			byID[id].DependsOn = append(byID[id].DependsOn, dep)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
