package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/queue/queuetest"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, func(ctx context.Context, url string) error {
		s, err := Open(ctx, url, Options{})
		if err != nil {
			return err
		}
		return s.Close()
	}))
}

// setup opens a store on a new database and closes it when the test ends;
// it returns the database's URL too, for a second store.
func setup(t *testing.T) (*Store, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	return s, url
}

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, Options{BusyTimeout: 5 * time.Second, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store {
		url := pgtest.NewDatabase(t)
		s, err := Open(context.Background(), url, Options{BusyTimeout: 5 * time.Second, MaxConns: 4})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
