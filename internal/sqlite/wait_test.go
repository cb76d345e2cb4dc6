package sqlite

import (
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
)

// TestWait: the Notifier suite, on two stores on one file, as two
// processes would have.
func TestWait(t *testing.T) {
	t.Parallel()
	queuetest.RunNotifier(t, func(t *testing.T) (queuetest.NotifyingStore, queue.Store) {
		waiter, path := setup(t)
		other, err := Open(t.Context(), path, Options{BusyTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		return waiter, other
	})
}
