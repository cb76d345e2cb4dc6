package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jobq/jobq/internal/queue"
)

// extendLease extends a job's lease while its worker holds it.
const extendLease = `UPDATE jobs SET lease_until = ?
	WHERE id = ? AND run = ? AND worker = ? AND state = 'running'
	RETURNING cancel_requested`

// JobHeartbeat extends leases; see queue.Store.
func (s *Store) JobHeartbeat(ctx context.Context, params queue.JobHeartbeatParams) (*queue.JobHeartbeatResult, error) {
	if err := s.prepare(ctx, extendLease); err != nil {
		return nil, err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, interpretError(err)
	}
	defer tx.Rollback()
	k := keptTx{s, tx}
	res := &queue.JobHeartbeatResult{}
	for _, ref := range params.Jobs {
		var cancel bool
		err := k.QueryRowContext(ctx, extendLease, ms(params.LeaseUntil), ref.ID, ref.Run, params.Worker).Scan(&cancel)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res.Lost = append(res.Lost, ref.ID)
		case err != nil:
			return nil, interpretError(err)
		case cancel:
			res.Cancel = append(res.Cancel, ref.ID)
		}
	}
	return res, interpretError(tx.Commit())
}
