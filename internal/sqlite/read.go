package sqlite

import (
	"context"
	"database/sql"
	"slices"

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

// JobCount counts the jobs filter selects, whatever its Limit.
func (s *Store) JobCount(ctx context.Context, filter queue.JobFilter) (int, error) {
	where, args := jobFilter(filter)
	var n int
	err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE "+where, args...).Scan(&n)
	return n, interpretError(err)
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
