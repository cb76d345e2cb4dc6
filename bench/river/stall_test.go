package river

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// blockWorker never finishes a job on its own: it returns when River
// cancels it.
type blockWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (blockWorker) Work(ctx context.Context, _ *river.Job[noopArgs]) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestRunRiverReportsStall: when River's workers stop completing jobs,
// runRiver returns an error that says how many jobs completed and where the
// others are, instead of measuring a rate or waiting forever.
func TestRunRiverReportsStall(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "river.db")+"?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = runRiver(context.Background(), 5, 2, riversqlite.New(db), blockWorker{}, 2*time.Second)
	if err == nil {
		t.Fatal("runRiver measured a rate while no job could complete")
	}
	for _, want := range []string{"0 of 5 jobs completed, then none for 2s", "running 2", "available 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
