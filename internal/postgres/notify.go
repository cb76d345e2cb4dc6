package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// channel is the NOTIFY channel of jobq's writes. PostgreSQL scopes it to
// the database, as the queue is.
const channel = "jobq_changes"

// notifyCommit is what commits a writing transaction of the store whose
// token is token: it tells waiters, as the transaction commits, that the
// store changed, with the token as the payload, in the same round trip
// as COMMIT. PostgreSQL sends a notification only if the transaction
// commits, and folds a transaction's identical notifications into one.
// The token is hex (newToken): quoted as it is.
func notifyCommit(token string) string {
	return "SELECT pg_notify('" + channel + "', '" + token + "'); COMMIT"
}

// listener is the connection Wait listens on, opened by the first Wait
// and kept until Close. A goroutine reads its notifications into changed;
// one from the store itself is no news, as SQLite's data_version does not
// count the connection's own commits.
type listener struct {
	cfg *pgx.ConnConfig

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
	changed chan struct{} // buffered 1: a change not yet seen; made by Open
}

// Wait returns when another store may have changed the database since
// this one last claimed or returned from Wait, when d has passed, or when
// ctx is done; see queue.Notifier. The first call starts listening and
// returns at once, as changes made before it were not heard.
//
// A lost listening connection is opened again; until it is, Wait sleeps d
// (the runner then finds new jobs at its next look, as without a
// Notifier).
func (s *Store) Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := &s.listen
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("store closed")
	}
	first := !l.started
	if first {
		l.start(s.token)
	}
	changed := l.changed
	l.mu.Unlock()
	if first {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	case <-changed:
		return nil
	}
}

// seen forgets the changes heard so far: JobClaim calls it before it
// begins, so that a change its claim already sees does not wake the next
// Wait.
func (s *Store) seen() {
	select {
	case <-s.listen.changed:
	default:
	}
}

// start starts the listening goroutine; l.mu is held.
func (l *listener) start(token string) {
	ctx, cancel := context.WithCancel(context.Background())
	l.started, l.cancel, l.done = true, cancel, make(chan struct{})
	ready := make(chan struct{})
	go l.run(ctx, token, ready)
	// Listening is on before the first Wait returns, or has failed: a
	// write after it is then heard.
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	}
}

// run listens until ctx is done, connecting again after a failure.
func (l *listener) run(ctx context.Context, token string, ready chan struct{}) {
	defer close(l.done)
	var once sync.Once
	signalReady := func() { once.Do(func() { close(ready) }) }
	defer signalReady()
	heard := false
	for pause := 100 * time.Millisecond; ctx.Err() == nil; pause = min(2*pause, 5*time.Second) {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+channel); err == nil {
				signalReady()
				if heard {
					// Notifications may have been missed: say so.
					l.wake()
				}
				heard = true
				pause = 100 * time.Millisecond
				err = l.receive(ctx, conn, token)
			}
			conn.Close(context.Background())
		}
		signalReady()
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// receive reads notifications until the connection fails or ctx is done.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn, token string) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != token {
			l.wake()
		}
	}
}

func (l *listener) wake() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// close stops listening and waits for the goroutine to end.
func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	started := l.started
	l.mu.Unlock()
	if started {
		l.cancel()
		<-l.done
	}
}
