package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// QueueSet changes a queue's settings, keeping a row only for a queue
// that has a setting; see queue.Store.
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
	// A queue whose settings are all back to their defaults needs no row:
	// without one, a queue without jobs (a typo, say) vanishes from stats.
	if _, err := tx.ExecContext(ctx, `DELETE FROM queues WHERE name = ? AND NOT paused
		AND concurrency IS NULL AND rate IS NULL AND rate_period_ms IS NULL`, params.Name); err != nil {
		return interpretError(err)
	}
	return interpretError(tx.Commit())
}

const queueSettingsQuery = `SELECT name, paused, coalesce(concurrency, 0),
	coalesce(rate, 0), coalesce(rate_period_ms, 0) FROM queues ORDER BY name`

func queueSettings(ctx context.Context, q queryer) ([]queue.QueueSettings, error) {
	rows, err := q.QueryContext(ctx, queueSettingsQuery)
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
