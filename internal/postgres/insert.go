package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// insertJobsSQL inserts a chunk of a batch in one statement, a column an
// array (unnest), in the chunk's order (WITH ORDINALITY): the rows then
// take their IDs in that order, so the IDs it returns, sorted, are the
// chunk's.
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

// insertChunk is how many rows one statement inserts. The server ends a
// session idle in a transaction for idleInTx (a second or more), and the
// client's work between two statements, settling a chunk's jobs and
// building its arrays, is idle time to it: for a whole batch at once that
// grew with the batch (1,000,000 lines: over a second, and the session
// was ended). A chunk's is about 20 ms (200 ms under -race), and each
// statement starts the server's clock again. (Turning the timeout off
// for a batch, as CopyFrom does, would let a jobq stopped mid-batch hold
// the write lock against every host for ever.) Round trips cost little
// at this size: 300 (3 statements a chunk) for 1,000,000 jobs.
const insertChunk = 10_000

// JobInsert inserts the jobs of a stream in one transaction; see
// queue.Store. The write lock makes the unique keys' lookups and the
// insert one step: no other host inserts a key in between.
//
// Unlike SQLite's, it takes the stream whole before it begins: building a
// stream's jobs (parsing a batch's lines) between statements would be
// idle time to the server (see insertChunk), for as long as the producer
// takes. The whole batch is then in memory, a JobInsertParams a job, in
// pieces of insertChunk (no slice of them all regrown and copied as it
// grows), each let go once inserted.
func (s *Store) JobInsert(ctx context.Context, jobs iter.Seq2[queue.JobInsertParams, error]) ([]int64, error) {
	var chunks [][]queue.JobInsertParams
	for p, err := range jobs {
		if err != nil {
			return nil, err
		}
		if len(chunks) == 0 || len(chunks[len(chunks)-1]) == insertChunk {
			chunks = append(chunks, nil)
		}
		last := &chunks[len(chunks)-1]
		*last = append(*last, p)
	}
	if len(chunks) == 0 {
		return []int64{}, nil
	}
	var ids []int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		ids, err = insertJobs(ctx, tx, chunks)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// insertJobs is JobInsert inside tx, which holds the write lock, of the
// jobs of chunks, in order, each chunk let go (set to nil) once its jobs
// are settled; ScheduleFire enqueues a tick's job with it. The jobs to
// insert go in by statements of insertChunk rows, each statement's IDs
// given to the batch (a later job's --after does not find them, as
// SQLite's does not).
func insertJobs(ctx context.Context, tx pgx.Tx, chunks [][]queue.JobInsertParams) ([]int64, error) {
	var b queue.InsertBatch
	lookupKey := func(key string) (int64, error) {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM jobs WHERE unique_key = $1
			AND state NOT IN (`+finalStates+`)`, key).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return id, interpretError(err)
	}
	depState := func(dep int64) (queue.State, error) {
		var state string
		err := tx.QueryRow(ctx, "SELECT state FROM jobs WHERE id = $1", dep).Scan(&state)
		return queue.State(state), interpretError(err)
	}
	rows := make([]queue.JobInsertParams, 0, min(len(chunks[0]), insertChunk))
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		newIDs, err := queryIDs(ctx, tx, insertJobsSQL, insertArrays(rows)...)
		if err != nil {
			return fmt.Errorf("insert jobs: %w", err)
		}
		if len(newIDs) != len(rows) {
			return fmt.Errorf("insert jobs: %d rows inserted for %d jobs", len(newIDs), len(rows))
		}
		rows = rows[:0]
		slices.Sort(newIDs)
		b.Inserted(newIDs)
		if _, err := tx.Exec(ctx, logNewJobs, newIDs); err != nil {
			return interpretError(fmt.Errorf("log new jobs: %w", err))
		}
		if _, err := tx.Exec(ctx, countNewJobs, newIDs); err != nil {
			return interpretError(fmt.Errorf("count new jobs: %w", err))
		}
		return nil
	}
	for c := range chunks {
		for _, p := range chunks[c] {
			insert, err := b.Add(&p, lookupKey, depState)
			if err != nil {
				return nil, err
			}
			if insert {
				rows = append(rows, p)
			}
			if len(rows) == insertChunk {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		chunks[c] = nil
	}
	if err := flush(); err != nil {
		return nil, err
	}
	ids := b.IDs()
	if err := insertDependencies(ctx, tx, b.Deps, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// logNewJobs logs the creation of the jobs of a chunk, in ID order.
const logNewJobs = `INSERT INTO events (job_id, at, to_state, attempt)
	SELECT id, created_at, state, run FROM jobs WHERE id = ANY($1) ORDER BY id`

// countNewJobs adds the jobs of a chunk to job_counts.
const countNewJobs = `INSERT INTO job_counts (queue, state, n)
	SELECT queue, state, count(*) FROM jobs WHERE id = ANY($1) GROUP BY queue, state
	ON CONFLICT (queue, state) DO UPDATE SET n = job_counts.n + excluded.n`

// insertArrays are insertJobsSQL's arguments for rows.
func insertArrays(rows []queue.JobInsertParams) []any {
	n := len(rows)
	var (
		queues, states                        = make([]string, n), make([]string, n)
		priority, runAt, maxAttempts, timeout = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		backoff, maxBackoff, created          = make([]int64, n), make([]int64, n), make([]int64, n)
		command, argv, dir, env               = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		permanent, unique                     = make([]*string, n), make([]*string, n)
		scheduleID, scheduleTick              = make([]*int64, n), make([]*int64, n)
	)
	for k := range rows {
		p := &rows[k]
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
