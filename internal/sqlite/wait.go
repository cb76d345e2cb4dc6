package sqlite

import (
	"context"
	"time"
)

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
// where that is not to be had or the watch has ended.
func (s *Store) Wait(ctx context.Context, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	writes := s.changes()
	poll := time.NewTimer(waitPoll)
	defer poll.Stop()
	var pollC <-chan time.Time
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
			pollC = poll.C
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
		case _, ok := <-writes:
			if !ok {
				writes = nil // the watch ended: poll
			}
			lastWrite = time.Now()
		case <-pollC:
		}
	}
}
