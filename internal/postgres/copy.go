package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// The tables CopyFrom copies, in an order that keeps foreign keys whole,
// with their columns as both schemas name them (this schema is the SQLite
// one column for column), each with the PostgreSQL type its value needs:
// 'b' bytea, 'o' boolean, 't' text, 'n' a number as it comes.
var copyTables = []copyTableDesc{
	{"jobs", "job", "id queue state priority command argv dir env run_at max_attempts attempts timeout_ms backoff_ms max_backoff_ms permanent_exit unique_key created_at updated_at started_at finished_at exit_code signal last_error run worker lease_until cancel_requested progress progress_message progress_at schedule_id schedule_tick",
		"nttnbbbbnnnnnnttnnnnntbntnontnnn", true},
	{"job_deps", "dependency of job", "job_id depends_on", "nn", false},
	{"attempts", "attempt", "id job_id run worker started_at finished_at exit_code signal error output output_size",
		"nnntnnntbbn", true},
	{"events", "event", "id job_id at from_state to_state attempt worker error schedule", "nnnttntbt", true},
	{"schedules", "schedule", "id name expr zone overlap jitter_ms description paused next_at due_at created_at updated_at queue priority command argv dir env max_attempts timeout_ms backoff_ms max_backoff_ms permanent_exit last_success_at failures health_job_id active_since",
		"nttttntonnnntnbbbbnnnntnnnn", true},
	{"queues", "queue", "name paused concurrency rate rate_period_ms", "tonnn", false},
	{"job_counts", "job count of queue", "queue state n", "ttn", false},
	{"job_ends", "end count of queue", "queue state n", "ttn", false},
}

type copyTableDesc struct {
	name    string
	row     string // what a row is, named by its first column: "job" 7
	columns string
	kinds   string
	serial  bool // an identity ID: its sequence continues from the copy
}

// CopyResult counts the rows CopyFrom copied, by table.
type CopyResult map[string]int

// CopyFrom copies a whole jobq database, read through src (a SQLite
// store's read-only pool, sqlite.Store.Reader), into this one, which must
// have no jobs, schedules or queue settings yet: every job with its ID,
// history, events and dependencies, every schedule and every queue
// setting, in one transaction. IDs go on from where the source's went:
// SQLite's sqlite_sequence remembers the IDs of deleted rows too, and a
// job ID is never given twice.
func (s *Store) CopyFrom(ctx context.Context, src *sql.DB) (CopyResult, error) {
	res := CopyResult{}
	// One snapshot of the source (WAL): a worker may be writing to it.
	srcTx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer srcTx.Rollback()
	err = s.write(ctx, func(tx pgx.Tx) error {
		// Reading the source may take a while between statements: a copy
		// is one long transaction by design.
		if _, err := tx.Exec(ctx, "SET LOCAL idle_in_transaction_session_timeout = 0"); err != nil {
			return interpretError(err)
		}
		// job_ends too: a database whose jobs ended and were deleted
		// still counts them, and the source's counts would collide.
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM jobs) OR EXISTS (SELECT FROM schedules)
			OR EXISTS (SELECT FROM queues)
			OR EXISTS (SELECT FROM job_ends)`).Scan(&used); err != nil {
			return interpretError(err)
		}
		if used {
			return errors.New("the PostgreSQL database already has jobs, schedules or queue settings: copy into a new one")
		}
		for _, table := range copyTables {
			n, err := copyTable(ctx, srcTx, tx, table)
			if err != nil {
				return fmt.Errorf("copy %s: %w", table.name, err)
			}
			res[table.name] = n
			if table.serial {
				if err := continueIDs(ctx, srcTx, tx, table.name); err != nil {
					return fmt.Errorf("copy %s: %w", table.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// copyTable copies the rows of one table with COPY, streamed: one row
// of the source read as COPY sends the one before, never the whole
// table in memory. A text value PostgreSQL cannot hold (a NUL byte,
// invalid UTF-8, which SQLite keeps) fails the copy naming its row.
func copyTable(ctx context.Context, src *sql.Tx, tx pgx.Tx, table copyTableDesc) (int, error) {
	columns := strings.Fields(table.columns)
	rows, err := src.QueryContext(ctx, "SELECT "+strings.Join(columns, ", ")+" FROM "+table.name+" ORDER BY 1")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]any, len(columns))
	ptrs := make([]any, len(columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	next := func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(columns))
		for i, v := range vals {
			row[i] = convert(v, table.kinds[i])
			if text, ok := row[i].(string); ok {
				if err := queue.ValidateText(columns[i], text); err != nil {
					return nil, fmt.Errorf("%s %v: %w", table.row, vals[0], err)
				}
			}
		}
		return row, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table.name}, columns, pgx.CopyFromFunc(next))
	return int(n), interpretError(err)
}

// convert makes a value read from SQLite what its PostgreSQL column takes.
func convert(v any, kind byte) any {
	if v == nil {
		return nil
	}
	switch kind {
	case 'b':
		switch v := v.(type) {
		case string:
			return []byte(v)
		case []byte:
			return v
		}
	case 't':
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	case 'o':
		if n, ok := v.(int64); ok {
			return n != 0
		}
	}
	return v
}

// continueIDs moves table's identity on past every ID the source gave.
func continueIDs(ctx context.Context, src *sql.Tx, tx pgx.Tx, table string) error {
	// A table without AUTOINCREMENT has no entry (attempts); nor has one
	// that never had a row.
	var last int64
	err := src.QueryRowContext(ctx, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0)", table).Scan(&last)
	if err != nil {
		return err
	}
	var max int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM "+table).Scan(&max); err != nil {
		return interpretError(err)
	}
	last = maxInt(last, max)
	if last == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, last)
	return interpretError(err)
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
