package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// QueueStats sums up every queue, in one snapshot (REPEATABLE READ); see
// queue.Store and the sqlite store's. Counts come from job_counts.
func (s *Store) QueueStats(ctx context.Context, params queue.QueueStatsParams) ([]queue.QueueStats, error) {
	var tally queue.StatsTally
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		settings, err := queueSettings(ctx, tx)
		if err != nil {
			return err
		}
		for _, qs := range settings {
			tally.Settings(qs)
		}
		err = eachRow(ctx, tx, "SELECT queue, state, n FROM job_counts WHERE n > 0", nil, func(rows pgx.Rows) error {
			var name, state string
			var n int
			if err := rows.Scan(&name, &state, &n); err != nil {
				return err
			}
			tally.Count(name, queue.State(state), n)
			return nil
		})
		if err != nil {
			return err
		}
		// A queue's jobs whose time has come, and its oldest ready job,
		// through jobs_queue_ready.
		for _, r := range tally.Ready() {
			var n int
			var oldest sql.NullInt64
			if err := tx.QueryRow(ctx, `SELECT count(*), min(run_at) FROM jobs
			WHERE `+readyCondition+` AND queue = $1 AND state = $2 AND run_at <= $3`,
				r.Queue, string(r.State), ms(params.Now)).Scan(&n, &oldest); err != nil {
				return interpretError(err)
			}
			tally.Due(r, n, fromNullMS(oldest))
		}
		return eachRow(ctx, tx, recentEnded, []any{ms(params.RecentSince)}, func(rows pgx.Rows) error {
			var name, state string
			var n int
			if err := rows.Scan(&name, &state, &n); err != nil {
				return err
			}
			tally.Recent(name, queue.State(state), n)
			return nil
		})
	})
	if err != nil {
		return nil, interpretError(err)
	}
	return tally.Stats(), nil
}

// recentEnded counts the jobs that ended in queue.RecentStates since a
// time, per queue and state, from jobs_finished.
var recentEnded = `SELECT queue, state, count(*) FROM jobs
WHERE state IN (` + sqlStates(queue.RecentStates) + `) AND finished_at IS NOT NULL AND finished_at >= $1
GROUP BY queue, state`

// StoreStats sums up the whole store; see queue.Store. The ends come from
// job_ends, which a trigger keeps (migrations/0003_statement_triggers.sql, jobs_changed),
// in byte order as SQLite's; the size is the database's, as
// pg_database_size counts it.
func (s *Store) StoreStats(ctx context.Context) (*queue.StoreStats, error) {
	var out queue.StoreStats
	err := eachRow(ctx, s.pool, `SELECT queue, state, n FROM job_ends ORDER BY queue COLLATE "C", state COLLATE "C"`, nil, func(rows pgx.Rows) error {
		var c queue.EndedCount
		var state string
		err := rows.Scan(&c.Queue, &state, &c.N)
		c.State = queue.State(state)
		out.Ended = append(out.Ended, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&out.SizeBytes); err != nil {
		return nil, fmt.Errorf("database size: %w", interpretError(err))
	}
	return &out, nil
}

// Ping asks the server a trivial question through the pool, as the
// store's other calls reach it; an error says why in a line, the driver's
// innermost reason ("connection refused"), never a password.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return errors.New("PostgreSQL does not answer: " + Redact(errorText(err)))
	}
	return nil
}
