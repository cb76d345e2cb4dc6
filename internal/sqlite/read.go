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
	job, err := scanReadJob(s.reader.QueryRowContext(ctx, "SELECT "+readColumns+" FROM jobs WHERE id = ?", id))
	if err != nil {
		return nil, interpretError(err)
	}
	return job, loadDependencies(ctx, s.reader, []*queue.Job{job})
}

// JobList returns the jobs filter selects, newest first; see queue.Store.
func (s *Store) JobList(ctx context.Context, filter queue.JobFilter) ([]*queue.Job, error) {
	where, args := jobFilter(filter)
	query := "SELECT " + readColumns + " FROM jobs WHERE " + where + " ORDER BY id DESC"
	if filter.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, filter.Limit)
	}
	jobs, err := scanJobs(ctx, s.reader, scanReadJob, query, args...)
	if err != nil || len(jobs) == 0 {
		return jobs, err
	}
	return jobs, loadDependencies(ctx, s.reader, jobs)
}

// JobCount counts the jobs filter selects, whatever its Limit. A filter
// of queues and states alone is counted from job_counts, as stats counts,
// unless a state is one that users see by the time (pending includes the
// scheduled and retrying jobs whose time has come): jobq list counts what
// it did not show, and by an index that cost a read of every job counted
// (all the succeeded jobs of a long-lived queue).
func (s *Store) JobCount(ctx context.Context, filter queue.JobFilter) (int, error) {
	query, args := jobCountQuery(filter)
	var n int
	err := s.reader.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, interpretError(err)
}

// jobCountQuery is JobCount's statement and its arguments.
func jobCountQuery(filter queue.JobFilter) (string, []any) {
	byTime := func(st queue.State) bool { return st == queue.StatePending || slices.Contains(queue.TimedStates, st) }
	if len(filter.IDs) > 0 || len(filter.ExitCodes) > 0 || filter.Error != "" || filter.ScheduleID != 0 ||
		!filter.Since.IsZero() || !filter.Before.IsZero() || slices.ContainsFunc(filter.States, byTime) {
		where, args := jobFilter(filter)
		return "SELECT count(*) FROM jobs WHERE " + where, args
	}
	where := []string{"1"}
	var args []any
	if len(filter.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(filter.States))+")")
		for _, st := range filter.States {
			args = append(args, string(st))
		}
	}
	if len(filter.Queues) > 0 {
		where = append(where, "queue IN ("+placeholders(len(filter.Queues))+")")
		for _, q := range filter.Queues {
			args = append(args, q)
		}
	}
	return "SELECT coalesce(sum(n), 0) FROM job_counts WHERE " + strings.Join(where, " AND "), args
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
