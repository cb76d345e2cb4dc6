package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/jobq/jobq/internal/queue"
)

const insertColumns = `INSERT INTO jobs (queue, state, priority, command, argv, dir, env,
	run_at, max_attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, updated_at, schedule_id, schedule_tick) VALUES `

const insertRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// insertChunk is how many rows one INSERT statement takes: a batch pays the
// per-statement cost once per chunk rather than once per job. 256 rather
// than 64 once a plain row bound one value: 4% fewer instructions for a
// batch of 20,000 lines (1,000: more, the arguments' slice grows).
const insertChunk = 256

// JobInsert inserts the jobs of a stream in one transaction; see
// queue.Store.
//
// Unique keys are settled first, job by job in Go, so that every row sent
// is inserted: the new rows then get consecutive IDs (SQLite gives a new
// row the largest rowid plus one, and this transaction holds the only
// write lock), and the IDs are known without reading them back.
func (s *Store) JobInsert(ctx context.Context, jobs iter.Seq2[queue.JobInsertParams, error]) ([]int64, error) {
	if err := s.prepare(ctx, logNewJobs, countJobs); err != nil {
		return nil, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	ids, err := s.insertJobs(ctx, tx, jobs)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, interpretError(err)
	}
	return ids, nil
}

// insertJobs is JobInsert inside tx; ScheduleFire enqueues a tick's job
// with it, in the transaction that moves the schedule on. The jobs go in
// by chunks of insertChunk rows as the stream yields them.
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, jobs iter.Seq2[queue.JobInsertParams, error]) ([]int64, error) {
	// mattn runs a statement on a goroutine of its own when its context can
	// be cancelled; per row that costs more than the insert. A batch is
	// short and all or nothing, so it runs to the end once started.
	execCtx := context.WithoutCancel(ctx)
	ins := inserter{tx: tx, ctx: execCtx, counts: map[jobCount]int{}}
	defer ins.close()
	var b queue.InsertBatch
	var lookup *sql.Stmt
	lookupKey := func(key string) (int64, error) {
		if lookup == nil {
			var err error
			lookup, err = tx.PrepareContext(ctx, `SELECT id FROM jobs WHERE unique_key = ?
				AND state NOT IN (`+finalStates+`)`)
			if err != nil {
				return 0, interpretError(err)
			}
		}
		var id int64
		err := lookup.QueryRowContext(ctx, key).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return id, interpretError(err)
	}
	defer func() {
		if lookup != nil {
			lookup.Close()
		}
	}()
	depState := func(dep int64) (queue.State, error) {
		var state string
		err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", dep).Scan(&state)
		return queue.State(state), interpretError(err)
	}
	flush := func() error {
		if len(ins.rows) == 0 {
			return nil
		}
		n := int64(len(ins.rows))
		end, err := ins.insert()
		if err != nil {
			return interpretError(fmt.Errorf("insert jobs: %w", err))
		}
		if _, err := (keptTx{s, tx}).ExecContext(execCtx, logNewJobs, end-n+1, end); err != nil {
			return interpretError(fmt.Errorf("log new jobs: %w", err))
		}
		ins.ids = ins.ids[:0]
		for id := end - n + 1; id <= end; id++ {
			ins.ids = append(ins.ids, id)
		}
		b.Inserted(ins.ids)
		return nil
	}
	for p, err := range jobs {
		if err != nil {
			return nil, err
		}
		insert, err := b.Add(&p, lookupKey, depState)
		if err != nil {
			return nil, err
		}
		if !insert {
			continue
		}
		ins.rows = append(ins.rows, p)
		if len(ins.rows) == insertChunk {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for k, n := range ins.counts {
		if _, err := (keptTx{s, tx}).ExecContext(execCtx, countJobs, k.queue, string(k.state), n); err != nil {
			return nil, interpretError(fmt.Errorf("count new jobs: %w", err))
		}
	}
	ids := b.IDs()
	if err := insertDependencies(ctx, tx, b.Deps, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// logNewJobs logs the creation of the jobs inserted, a range of IDs: each
// chunk's, right after it, while its rows are still in SQLite's page
// cache (read back once at the end, 200,000 jobs made SQLite read 5,000
// pages it had spilled to the WAL again: 32,000 preads against 26,700).
const logNewJobs = `INSERT INTO events (job_id, at, to_state, attempt)
	SELECT id, created_at, state, run FROM jobs WHERE id BETWEEN ? AND ?`

// countJobs adds n jobs of a queue and state to job_counts.
const countJobs = `INSERT INTO job_counts (queue, state, n) VALUES (?, ?, ?)
	ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`

// inserter inserts chunks of rows with statements it prepares once. When
// the rows of a chunk differ only in command, argv and unique key (a batch
// of lines, with flags for the rest), the other 13 values are bound once
// per statement rather than once per row: binding was a third of a batch's
// time. When each row is also a shell command with no unique key, only
// the command is bound (insertPlain).
type inserter struct {
	tx     *sql.Tx
	ctx    context.Context
	stmts  map[[2]int]*sql.Stmt // by kind (insertSQL), rows
	args   []any
	rows   []queue.JobInsertParams // the chunk to insert next
	ids    []int64                 // the IDs of the chunk inserted last
	counts map[jobCount]int        // the jobs inserted, for job_counts
}

// jobCount is a row of job_counts.
type jobCount struct {
	queue string
	state queue.State
}

func (ins *inserter) close() {
	for _, st := range ins.stmts {
		st.Close()
	}
}

// insert inserts the rows of the chunk, empties it, and returns the last
// new row's ID.
func (ins *inserter) insert() (int64, error) {
	rows := ins.rows
	ins.rows = ins.rows[:0]
	first := &rows[0]
	// The shared statement leaves out the schedule's columns: a
	// schedule's job comes alone.
	shared := first.ScheduleID == 0 && first.ScheduleTick.IsZero()
	for i := range rows[1:] {
		if !sameShape(first, &rows[1+i]) {
			shared = false
			break
		}
	}
	kind := insertRows
	if shared {
		kind = insertPlain
		for i := range rows {
			if !plain(&rows[i]) {
				kind = insertShared
				break
			}
		}
	}
	ins.args = ins.args[:0]
	switch kind {
	case insertPlain:
		ins.args = appendSharedArgs(ins.args, first)
		for i := range rows {
			ins.args = append(ins.args, rows[i].Command)
		}
	case insertShared:
		ins.args = appendSharedArgs(ins.args, first)
		for i := range rows {
			p := &rows[i]
			ins.args = append(ins.args, p.Command, joinNUL(p.Argv), nullString(p.UniqueKey))
		}
	default:
		for i := range rows {
			ins.args = appendInsertArgs(ins.args, &rows[i])
		}
	}
	if shared {
		ins.counts[jobCount{first.Queue, first.State}] += len(rows)
	} else {
		for i := range rows {
			ins.counts[jobCount{rows[i].Queue, rows[i].State}]++
		}
	}
	key := [2]int{kind, len(rows)}
	st, ok := ins.stmts[key]
	if !ok {
		var err error
		if st, err = ins.tx.PrepareContext(ins.ctx, insertSQL(kind, len(rows))); err != nil {
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

// The kinds of INSERT statement inserter prepares.
const (
	insertRows   = iota // every value bound per row
	insertShared        // rows that share all values but command, argv and unique key
	insertPlain         // shared, and each row a shell command with no unique key
)

// insertSQL is the statement of a kind for rows rows. The shared kinds
// bind the 12 values the rows share once, as ?1 to ?12 (created_at
// twice), the rows' own from ?13: command, argv and unique key; or, for
// insertPlain, the command alone, argv being /bin/sh -c and the command
// (queue.ShellArgv, joined by NULs as joinNUL does) and the unique key
// NULL. A plain batch of lines binds a value a job rather than three.
func insertSQL(kind, rows int) string {
	if kind == insertRows {
		return insertColumns + strings.TrimSuffix(strings.Repeat(insertRow+", ", rows), ", ")
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO jobs (queue, state, priority, dir, env, run_at, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, permanent_exit, created_at, updated_at,
	command, argv, unique_key)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, column1, `)
	per := 3
	if kind == insertPlain {
		per = 1
		b.WriteString("CAST(")
		for _, arg := range queue.ShellArgv("")[:2] {
			fmt.Fprintf(&b, "'%s' || char(0) || ", arg)
		}
		b.WriteString("column1 AS BLOB), NULL")
	} else {
		b.WriteString(`column2, column3`)
	}
	b.WriteString("\nFROM (VALUES ")
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		n := 13 + per*r
		if per == 1 {
			fmt.Fprintf(&b, "(?%d)", n)
		} else {
			fmt.Fprintf(&b, "(?%d, ?%d, ?%d)", n, n+1, n+2)
		}
	}
	b.WriteString(")")
	return b.String()
}

// plain reports whether a job is a shell command without a unique key,
// as insertPlain inserts it.
func plain(p *queue.JobInsertParams) bool {
	return p.UniqueKey == "" && slices.Equal(p.Argv, queue.ShellArgv(p.Command))
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
