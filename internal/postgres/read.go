package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// JobGet returns one job or queue.ErrNotFound.
func (s *Store) JobGet(ctx context.Context, id int64) (*queue.Job, error) {
	job, err := scanReadJob(s.pool.QueryRow(ctx, "SELECT "+readColumns+" FROM jobs WHERE id = $1", id))
	if err != nil {
		return nil, err
	}
	return job, loadDependencies(ctx, s.pool, []*queue.Job{job})
}

// JobList returns the jobs filter selects, newest first; see queue.Store.
func (s *Store) JobList(ctx context.Context, filter queue.JobFilter) ([]*queue.Job, error) {
	var p placeholders
	query := "SELECT " + readColumns + " FROM jobs WHERE " + jobFilter(filter, &p) + " ORDER BY id DESC"
	if filter.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(filter.Limit)
	}
	jobs, err := scanJobs(ctx, s.pool, scanReadJob, query, p.args...)
	if err != nil || len(jobs) == 0 {
		return jobs, err
	}
	return jobs, loadDependencies(ctx, s.pool, jobs)
}

// JobCount counts the jobs filter selects, whatever its Limit.
func (s *Store) JobCount(ctx context.Context, filter queue.JobFilter) (int, error) {
	var p placeholders
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM jobs WHERE "+jobFilter(filter, &p), p.args...).Scan(&n)
	return n, interpretError(err)
}

// loadDependencies fills in the DependsOn of jobs.
func loadDependencies(ctx context.Context, q querier, jobs []*queue.Job) error {
	byID := make(map[int64]*queue.Job, len(jobs))
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		byID[j.ID] = j
		ids[i] = j.ID
	}
	return eachRow(ctx, q, `SELECT job_id, depends_on FROM job_deps
		WHERE job_id = ANY($1) ORDER BY job_id, depends_on`, []any{ids}, func(rows pgx.Rows) error {
		var id, dep int64
		if err := rows.Scan(&id, &dep); err != nil {
			return err
		}
		byID[id].DependsOn = append(byID[id].DependsOn, dep)
		return nil
	})
}
