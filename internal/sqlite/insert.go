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

const insertColumns = `INSERT INTO jobs (queue, state, priority, command, argv, dir, env,
	run_at, max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, updated_at, schedule_id, schedule_tick) VALUES `

const insertRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// insertChunk is how many rows one INSERT statement takes: a batch pays the
// per-statement cost once per chunk rather than once per job.
const insertChunk = 64

// JobInsert inserts all of params in one transaction; see queue.Store.
//
// Unique keys are settled first, in Go, so that every row sent is inserted:
// the new rows of one statement then get consecutive IDs (SQLite gives a
// new row the largest rowid plus one, and this transaction holds the only
// write lock), and the IDs are known without reading them back.
func (s *Store) JobInsert(ctx context.Context, params []queue.JobInsertParams) ([]int64, error) {
	if err := s.prepare(ctx, logNewJobs, countJobs); err != nil {
		return nil, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	ids, err := s.insertJobs(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, interpretError(err)
	}
	return ids, nil
}

// insertJobs is JobInsert inside tx; ScheduleFire enqueues a tick's job
// with it, in the transaction that moves the schedule on.
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams) ([]int64, error) {
	params, failedDeps, err := settleDependencies(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(params))
	fresh, sameAs, err := settleUniqueKeys(ctx, tx, params, ids)
	if err != nil {
		return nil, err
	}
	// mattn runs a statement on a goroutine of its own when its context can
	// be cancelled; per row that costs more than the insert. A batch is
	// short and all or nothing, so it runs to the end once started.
	execCtx := context.WithoutCancel(ctx)
	ins := inserter{tx: tx, ctx: execCtx}
	defer ins.close()
	for start := 0; start < len(fresh); start += insertChunk {
		part := fresh[start:min(start+insertChunk, len(fresh))]
		last, err := ins.insert(params, part)
		if err != nil {
			return nil, interpretError(fmt.Errorf("insert jobs: %w", err))
		}
		for k, i := range part {
			ids[i] = last - int64(len(part)-1-k)
		}
	}
	for i, j := range sameAs {
		ids[i] = ids[j]
	}
	if len(fresh) > 0 {
		if _, err := (keptTx{s, tx}).ExecContext(execCtx, logNewJobs, ids[fresh[0]], ids[fresh[len(fresh)-1]]); err != nil {
			return nil, interpretError(fmt.Errorf("log new jobs: %w", err))
		}
	}
	if err := countNewJobs(execCtx, keptTx{s, tx}, params, fresh); err != nil {
		return nil, err
	}
	if err := insertDependencies(ctx, tx, params, fresh, ids, failedDeps); err != nil {
		return nil, err
	}
	return ids, nil
}

// logNewJobs logs the creation of the jobs inserted, a range of IDs.
const logNewJobs = `INSERT INTO events (job_id, at, to_state, attempt)
	SELECT id, created_at, state, run FROM jobs WHERE id BETWEEN ? AND ?`

// countJobs adds n jobs of a queue and state to job_counts.
const countJobs = `INSERT INTO job_counts (queue, state, n) VALUES (?, ?, ?)
	ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`

// countNewJobs adds the jobs inserted to job_counts, one statement per
// queue and state (see job_counts in the schema).
func countNewJobs(ctx context.Context, tx keptTx, params []queue.JobInsertParams, fresh []int) error {
	type key struct {
		queue string
		state queue.State
	}
	counts := map[key]int{}
	for _, i := range fresh {
		counts[key{params[i].Queue, params[i].State}]++
	}
	for k, n := range counts {
		if _, err := tx.ExecContext(ctx, countJobs, k.queue, string(k.state), n); err != nil {
			return interpretError(fmt.Errorf("count new jobs: %w", err))
		}
	}
	return nil
}

// inserter inserts chunks of rows with statements it prepares once. When
// the rows of a chunk differ only in command, argv and unique key (a batch
// of lines, with flags for the rest), the other 13 values are bound once
// per statement rather than once per row: binding was a third of a batch's
// time.
type inserter struct {
	tx    *sql.Tx
	ctx   context.Context
	stmts map[[2]int]*sql.Stmt // by shared?, rows
	args  []any
}

func (ins *inserter) close() {
	for _, st := range ins.stmts {
		st.Close()
	}
}

// insert inserts params[part...] and returns the last new row's ID.
func (ins *inserter) insert(params []queue.JobInsertParams, part []int) (int64, error) {
	first := &params[part[0]]
	// The shared statement leaves out the schedule's columns: a
	// schedule's job comes alone.
	shared := first.ScheduleID == 0 && first.ScheduleTick.IsZero()
	for _, i := range part[1:] {
		if !sameShape(first, &params[i]) {
			shared = false
			break
		}
	}
	ins.args = ins.args[:0]
	if shared {
		ins.args = appendSharedArgs(ins.args, first)
		for _, i := range part {
			p := &params[i]
			ins.args = append(ins.args, p.Command, joinNUL(p.Argv), nullString(p.UniqueKey))
		}
	} else {
		for _, i := range part {
			ins.args = appendInsertArgs(ins.args, &params[i])
		}
	}
	key := [2]int{0, len(part)}
	if shared {
		key[0] = 1
	}
	st, ok := ins.stmts[key]
	if !ok {
		query := insertSQL(len(part))
		if shared {
			query = insertSharedSQL(len(part))
		}
		var err error
		if st, err = ins.tx.PrepareContext(ins.ctx, query); err != nil {
			return 0, err
		}
		if ins.stmts == nil {
			ins.stmts = map[[2]int]*sql.Stmt{}
		}
		ins.stmts[key] = st
	}
	res, err := st.ExecContext(ins.ctx, ins.args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func insertSQL(rows int) string {
	return insertColumns + strings.TrimSuffix(strings.Repeat(insertRow+", ", rows), ", ")
}

// insertSharedSQL inserts rows that share all values but command, argv and
// unique key: those 13 are ?1 to ?12 (created_at twice), the rows' from ?13.
func insertSharedSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO jobs (queue, state, priority, dir, env, run_at, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, created_at, updated_at,
	command, argv, unique_key)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, column1, column2, column3
FROM (VALUES `)
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		n := 13 + 3*r
		fmt.Fprintf(&b, "(?%d, ?%d, ?%d)", n, n+1, n+2)
	}
	b.WriteString(")")
	return b.String()
}

func appendInsertArgs(args []any, p *queue.JobInsertParams) []any {
	created := ms(p.CreatedAt)
	return append(args, p.Queue, string(p.State), p.Priority, p.Command,
		joinNUL(p.Argv), p.Dir, nullBytes(joinNUL(p.Env)), ms(p.RunAt), p.MaxAttempts,
		p.Timeout.Milliseconds(), p.Backoff.Milliseconds(), p.MaxBackoff.Milliseconds(),
		nullString(queue.FormatExitCodes(p.PermanentExit)), nullString(p.UniqueKey),
		created, created, zeroNull64(p.ScheduleID), msOrNull(p.ScheduleTick))
}

func appendSharedArgs(args []any, p *queue.JobInsertParams) []any {
	return append(args, p.Queue, string(p.State), p.Priority, p.Dir, nullBytes(joinNUL(p.Env)),
		ms(p.RunAt), p.MaxAttempts, p.Timeout.Milliseconds(), p.Backoff.Milliseconds(),
		p.MaxBackoff.Milliseconds(), nullString(queue.FormatExitCodes(p.PermanentExit)),
		ms(p.CreatedAt))
}

// sameShape reports whether two jobs differ at most in command, argv and
// unique key.
func sameShape(a, b *queue.JobInsertParams) bool {
	return a.Queue == b.Queue && a.State == b.State && a.Priority == b.Priority &&
		a.Dir == b.Dir && slices.Equal(a.Env, b.Env) && a.RunAt.Equal(b.RunAt) &&
		a.MaxAttempts == b.MaxAttempts && a.Timeout == b.Timeout && a.Backoff == b.Backoff &&
		a.MaxBackoff == b.MaxBackoff && slices.Equal(a.PermanentExit, b.PermanentExit) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ScheduleID == b.ScheduleID && a.ScheduleTick.Equal(b.ScheduleTick)
}

// settleUniqueKeys finds the jobs of params that are not to be inserted
// because their unique key belongs to a job not yet final: for those it
// fills in ids with that job's ID, or, when the key's job comes earlier in
// params, notes its index in sameAs. It returns the indexes to insert.
func settleUniqueKeys(ctx context.Context, tx *sql.Tx, params []queue.JobInsertParams, ids []int64) (fresh []int, sameAs map[int]int, err error) {
	fresh = make([]int, 0, len(params))
	var first map[string]int // key -> index of the job that inserts it
	var lookup *sql.Stmt
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
		if lookup == nil {
			lookup, err = tx.PrepareContext(ctx, `SELECT id FROM jobs WHERE unique_key = ?
				AND state NOT IN (`+finalStates+`)`)
			if err != nil {
				return nil, nil, interpretError(err)
			}
			defer lookup.Close()
			first = map[string]int{}
		}
		err := lookup.QueryRowContext(ctx, key).Scan(&ids[i])
		switch {
		case err == nil:
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, nil, interpretError(err)
		}
		first[key] = i
		fresh = append(fresh, i)
	}
	return fresh, sameAs, nil
}
