package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// QueueSet changes a queue's settings, keeping a row only for a queue
// that has a setting; see queue.Store. It takes the write lock, as a
// claim counts against the settings it reads.
func (s *Store) QueueSet(ctx context.Context, params queue.QueueSetParams) error {
	var p placeholders
	var set []string
	if params.Paused != nil {
		set = append(set, "paused = "+p.add(*params.Paused))
	}
	if params.Concurrency != nil {
		set = append(set, "concurrency = "+p.add(zeroNull(*params.Concurrency)))
	}
	if params.Rate != nil {
		set = append(set, "rate = "+p.add(zeroNull(*params.Rate)))
	}
	if params.RatePeriod != nil {
		set = append(set, "rate_period_ms = "+p.add(zeroNull64(params.RatePeriod.Milliseconds())))
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO queues (name) VALUES ($1) ON CONFLICT DO NOTHING", params.Name); err != nil {
			return interpretError(err)
		}
		if len(set) > 0 {
			if _, err := tx.Exec(ctx, "UPDATE queues SET "+strings.Join(set, ", ")+" WHERE name = "+p.add(params.Name),
				p.args...); err != nil {
				return interpretError(err)
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM queues WHERE name = $1 AND NOT paused
			AND concurrency IS NULL AND rate IS NULL AND rate_period_ms IS NULL`, params.Name)
		return interpretError(err)
	})
}

const queueSettingsQuery = `SELECT name, paused, coalesce(concurrency, 0),
	coalesce(rate, 0), coalesce(rate_period_ms, 0) FROM queues ORDER BY name`

func queueSettings(ctx context.Context, q querier) ([]queue.QueueSettings, error) {
	var out []queue.QueueSettings
	err := eachRow(ctx, q, queueSettingsQuery, nil, func(rows pgx.Rows) error {
		var qs queue.QueueSettings
		var period int64
		if err := rows.Scan(&qs.Name, &qs.Paused, &qs.Concurrency, &qs.Rate, &period); err != nil {
			return err
		}
		qs.RatePeriod = time.Duration(period) * time.Millisecond
		out = append(out, qs)
		return nil
	})
	return out, err
}
