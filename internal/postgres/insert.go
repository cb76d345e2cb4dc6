package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// insertJobsSQL inserts a whole batch in one statement, a column an
// array (unnest), in the batch's order (WITH ORDINALITY): the rows then
// take their IDs in that order, so the IDs it returns, sorted, are the
// batch's.
const insertJobsSQL = `INSERT INTO jobs (queue, state, priority, command, argv, dir, env,
	run_at, max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, updated_at, schedule_id, schedule_tick)
SELECT queue, state, priority, command, argv, dir, env, run_at, max_attempts, timeout_ms,
	backoff_ms, max_backoff_ms, permanent_exit, unique_key, created_at, created_at,
	schedule_id, schedule_tick
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[],
	$7::bytea[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
	$13::text[], $14::text[], $15::bigint[], $16::bigint[], $17::bigint[])
	WITH ORDINALITY AS u (queue, state, priority, command, argv, dir, env, run_at,
	max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, unique_key,
	created_at, schedule_id, schedule_tick, ord)
ORDER BY ord
RETURNING id`

// JobInsert inserts all of params in one transaction; see queue.Store.
// The write lock makes the unique keys' lookups and the insert one step:
// no other host inserts a key in between.
func (s *Store) JobInsert(ctx context.Context, params []queue.JobInsertParams) ([]int64, error) {
	if len(params) == 0 {
		return []int64{}, nil
	}
	var ids []int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		ids, err = insertJobs(ctx, tx, params)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// insertJobs is JobInsert inside tx, which holds the write lock;
// ScheduleFire enqueues a tick's job with it.
func insertJobs(ctx context.Context, tx pgx.Tx, params []queue.JobInsertParams) ([]int64, error) {
	params, failedDeps, err := settleDependencies(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(params))
	fresh, sameAs, err := settleUniqueKeys(ctx, tx, params, ids)
	if err != nil {
		return nil, err
	}
	if len(fresh) > 0 {
		newIDs, err := queryIDs(ctx, tx, insertJobsSQL, insertArrays(params, fresh)...)
		if err != nil {
			return nil, fmt.Errorf("insert jobs: %w", err)
		}
		if len(newIDs) != len(fresh) {
			return nil, fmt.Errorf("insert jobs: %d rows inserted for %d jobs", len(newIDs), len(fresh))
		}
		slices.Sort(newIDs)
		for k, i := range fresh {
			ids[i] = newIDs[k]
		}
		if _, err := tx.Exec(ctx, logNewJobs, newIDs); err != nil {
			return nil, interpretError(fmt.Errorf("log new jobs: %w", err))
		}
		if _, err := tx.Exec(ctx, countNewJobs, newIDs); err != nil {
			return nil, interpretError(fmt.Errorf("count new jobs: %w", err))
		}
	}
	for i, j := range sameAs {
		ids[i] = ids[j]
	}
	if err := insertDependencies(ctx, tx, params, fresh, ids, failedDeps); err != nil {
		return nil, err
	}
	return ids, nil
}

// logNewJobs logs the creation of the jobs inserted, in ID order.
const logNewJobs = `INSERT INTO events (job_id, at, to_state, attempt)
	SELECT id, created_at, state, run FROM jobs WHERE id = ANY($1) ORDER BY id`

// countNewJobs adds the jobs inserted to job_counts.
const countNewJobs = `INSERT INTO job_counts (queue, state, n)
	SELECT queue, state, count(*) FROM jobs WHERE id = ANY($1) GROUP BY queue, state
	ON CONFLICT (queue, state) DO UPDATE SET n = job_counts.n + excluded.n`

// insertArrays are insertJobsSQL's arguments for params[fresh...].
func insertArrays(params []queue.JobInsertParams, fresh []int) []any {
	n := len(fresh)
	var (
		queues, states                        = make([]string, n), make([]string, n)
		priority, runAt, maxAttempts, timeout = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		backoff, maxBackoff, created          = make([]int64, n), make([]int64, n), make([]int64, n)
		command, argv, dir, env               = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		permanent, unique                     = make([]*string, n), make([]*string, n)
		scheduleID, scheduleTick              = make([]*int64, n), make([]*int64, n)
	)
	for k, i := range fresh {
		p := &params[i]
		queues[k], states[k], priority[k] = p.Queue, string(p.State), int64(p.Priority)
		command[k], argv[k], dir[k] = []byte(p.Command), joinNUL(p.Argv), []byte(p.Dir)
		if len(p.Env) > 0 {
			env[k] = joinNUL(p.Env)
		}
		runAt[k], maxAttempts[k] = ms(p.RunAt), int64(p.MaxAttempts)
		timeout[k], backoff[k], maxBackoff[k] = p.Timeout.Milliseconds(), p.Backoff.Milliseconds(), p.MaxBackoff.Milliseconds()
		if codes := queue.FormatExitCodes(p.PermanentExit); codes != "" {
			permanent[k] = &codes
		}
		if p.UniqueKey != "" {
			unique[k] = &p.UniqueKey
		}
		created[k] = ms(p.CreatedAt)
		if p.ScheduleID != 0 {
			scheduleID[k] = &p.ScheduleID
		}
		if !p.ScheduleTick.IsZero() {
			tick := ms(p.ScheduleTick)
			scheduleTick[k] = &tick
		}
	}
	return []any{queues, states, priority, command, argv, dir, env, runAt, maxAttempts,
		timeout, backoff, maxBackoff, permanent, unique, created, scheduleID, scheduleTick}
}

// settleUniqueKeys finds the jobs of params not to be inserted because
// their unique key belongs to a job not yet final, as the sqlite store's
// does; it returns the indexes to insert.
func settleUniqueKeys(ctx context.Context, tx pgx.Tx, params []queue.JobInsertParams, ids []int64) (fresh []int, sameAs map[int]int, err error) {
	fresh = make([]int, 0, len(params))
	first := map[string]int{} // key -> index of the job that inserts it
	for i := range params {
		key := params[i].UniqueKey
		if key == "" {
			fresh = append(fresh, i)
			continue
		}
		if j, ok := first[key]; ok {
			if sameAs == nil {
				sameAs = map[int]int{}
			}
			sameAs[i] = j
			continue
		}
		err := tx.QueryRow(ctx, `SELECT id FROM jobs WHERE unique_key = $1
			AND state NOT IN (`+finalStates+`)`, key).Scan(&ids[i])
		switch {
		case err == nil:
			continue
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, nil, interpretError(err)
		}
		first[key] = i
		fresh = append(fresh, i)
	}
	return fresh, sameAs, nil
}
