package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/queue"
)

// extendLease extends a job's lease while its worker holds it.
const extendLease = `UPDATE jobs SET lease_until = $1
	WHERE id = $2 AND run = $3 AND worker = $4 AND state = 'running'
	RETURNING cancel_requested`

// JobHeartbeat extends leases; see queue.Store. It changes no state, so
// it neither takes the write lock nor notifies.
func (s *Store) JobHeartbeat(ctx context.Context, params queue.JobHeartbeatParams) (*queue.JobHeartbeatResult, error) {
	res := &queue.JobHeartbeatResult{}
	err := pgx.BeginTxFunc(ctx, s.pool, readCommitted, func(tx pgx.Tx) error {
		for _, ref := range params.Jobs {
			var cancel bool
			err := tx.QueryRow(ctx, extendLease, ms(params.LeaseUntil), ref.ID, int64(ref.Run), params.Worker).Scan(&cancel)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				res.Lost = append(res.Lost, ref.ID)
			case err != nil:
				return err
			case cancel:
				res.Cancel = append(res.Cancel, ref.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, interpretError(err)
	}
	return res, nil
}
