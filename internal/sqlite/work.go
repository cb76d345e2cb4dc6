package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// JobCancel cancels jobs; see queue.Store. The triggers of the schema
// cancel the jobs waiting for a cancelled one.
func (s *Store) JobCancel(ctx context.Context, params queue.JobCancelParams) ([]queue.JobCancelResult, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	now := ms(params.Now)
	out := make([]queue.JobCancelResult, len(params.IDs))
	for i, id := range params.IDs {
		out[i].ID = id
		var state string
		err := tx.QueryRowContext(ctx, "SELECT state FROM jobs WHERE id = ?", id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, interpretError(err)
		}
		out[i].Found, out[i].State = true, queue.State(state)
		switch {
		case out[i].State.Final():
		case out[i].State == queue.StateRunning:
			_, err = tx.ExecContext(ctx, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", id)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled', finished_at = ?,
				updated_at = ?, last_error = 'cancelled' WHERE id = ?`, now, now, id)
		}
		if err != nil {
			return nil, interpretError(fmt.Errorf("cancel job %d: %w", id, err))
		}
	}
	return out, interpretError(tx.Commit())
}

// QueueSet changes a queue's settings; see queue.Store.
func (s *Store) QueueSet(ctx context.Context, params queue.QueueSetParams) error {
	var set []string
	var args []any
	if params.Paused != nil {
		set, args = append(set, "paused = ?"), append(args, *params.Paused)
	}
	if params.Concurrency != nil {
		set, args = append(set, "concurrency = ?"), append(args, zeroNull(*params.Concurrency))
	}
	if params.Rate != nil {
		set, args = append(set, "rate = ?"), append(args, zeroNull(*params.Rate))
	}
	if params.RatePeriod != nil {
		set, args = append(set, "rate_period_ms = ?"), append(args, zeroNull(int(params.RatePeriod.Milliseconds())))
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO queues (name) VALUES (?) ON CONFLICT DO NOTHING", params.Name); err != nil {
		return interpretError(err)
	}
	if len(set) > 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE queues SET "+strings.Join(set, ", ")+" WHERE name = ?",
			append(args, params.Name)...); err != nil {
			return interpretError(err)
		}
	}
	return interpretError(tx.Commit())
}

// QueueList returns every queue's settings; see queue.Store.
func (s *Store) QueueList(ctx context.Context) ([]queue.QueueSettings, error) {
	return queueSettings(ctx, s.reader)
}

func queueSettings(ctx context.Context, q queryer) ([]queue.QueueSettings, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, paused, coalesce(concurrency, 0),
		coalesce(rate, 0), coalesce(rate_period_ms, 0) FROM queues ORDER BY name`)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []queue.QueueSettings
	for rows.Next() {
		var qs queue.QueueSettings
		var period int64
		if err := rows.Scan(&qs.Name, &qs.Paused, &qs.Concurrency, &qs.Rate, &period); err != nil {
			return nil, err
		}
		qs.RatePeriod = time.Duration(period) * time.Millisecond
		out = append(out, qs)
	}
	return out, interpretError(rows.Err())
}

// waitPoll is how often Wait looks at PRAGMA data_version when it cannot
// be told of writes (see changes): a new job is then noticed within 25 ms.
// After a write it is told of, it looks every afterWritePoll for
// afterWriteFor: the kernel reports the writes of the -wal file, and the
// commit becomes visible just after the last of them, through the -shm
// file, which is mapped into memory and so reported to no one.
const (
	waitPoll       = 25 * time.Millisecond
	afterWritePoll = 2 * time.Millisecond
	afterWriteFor  = 100 * time.Millisecond
)

// Wait returns once another connection has committed since this store
// last claimed or returned from Wait (the first call returns at once, as
// nothing was seen before), or after d; see queue.Store.
//
// It looks at PRAGMA data_version, which changes when another connection
// commits, when the kernel says a file of the database was written
// (inotify: an idle worker then uses no CPU at all), or every waitPoll
// where that is not to be had.
func (s *Store) Wait(ctx context.Context, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	writes := s.changes()
	poll := time.NewTimer(waitPoll)
	defer poll.Stop()
	var pollC <-chan time.Time
	if writes == nil {
		pollC = poll.C
	}
	var lastWrite time.Time
	for {
		var version int64
		if err := s.writer.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
			return interpretError(err)
		}
		if s.seen.Swap(version) != version {
			return nil
		}
		switch {
		case writes == nil:
			poll.Reset(waitPoll)
		case time.Since(lastWrite) < afterWriteFor:
			poll.Reset(afterWritePoll)
			pollC = poll.C
		default:
			pollC = nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return nil
		case <-writes:
			lastWrite = time.Now()
		case <-pollC:
		}
	}
}

func zeroNull(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
