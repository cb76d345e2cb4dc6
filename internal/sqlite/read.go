package sqlite

import (
	"context"

	"github.com/jobq/jobq/internal/queue"
)

// JobGet returns one job or queue.ErrNotFound.
func (s *Store) JobGet(ctx context.Context, id int64) (*queue.Job, error) {
	job, err := scanJob(s.reader.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if err != nil {
		return nil, interpretError(err)
	}
	return job, s.loadDependencies(ctx, []*queue.Job{job})
}

// JobList returns the jobs filter selects, newest first; see queue.Store.
func (s *Store) JobList(ctx context.Context, filter queue.JobFilter) ([]*queue.Job, error) {
	where, args := jobFilter(filter)
	query := "SELECT " + jobColumns + " FROM jobs WHERE " + where + " ORDER BY id DESC"
	if filter.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, filter.Limit)
	}
	jobs, err := s.queryJobs(ctx, s.reader, query, args...)
	if err != nil || len(jobs) == 0 {
		return jobs, err
	}
	return jobs, s.loadDependencies(ctx, jobs)
}

// JobCount counts the jobs filter selects, whatever its Limit.
func (s *Store) JobCount(ctx context.Context, filter queue.JobFilter) (int, error) {
	where, args := jobFilter(filter)
	var n int
	err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE "+where, args...).Scan(&n)
	return n, interpretError(err)
}

// loadDependencies fills in the DependsOn of jobs, listed newest first.
func (s *Store) loadDependencies(ctx context.Context, jobs []*queue.Job) error {
	byID := make(map[int64]*queue.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT job_id, depends_on FROM job_deps
		WHERE job_id BETWEEN ? AND ? ORDER BY job_id, depends_on`, jobs[len(jobs)-1].ID, jobs[0].ID)
	if err != nil {
		return interpretError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, dep int64
		if err := rows.Scan(&id, &dep); err != nil {
			return err
		}
		if j, ok := byID[id]; ok {
			j.DependsOn = append(j.DependsOn, dep)
		}
	}
	return interpretError(rows.Err())
}
