package queue_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// TestRunnerFlushesOutput: while a job runs, what it printed reaches the
// store, where another connection (jobq logs -f, on any host) reads it;
// the job goes on only once that reader has seen it, so the test cannot
// pass by the outcome alone.
func TestRunnerFlushesOutput(t *testing.T) {
	e := setup(t)
	reader, err := sqlite.Open(t.Context(), filepath.Join(e.dir, "db", "jobq.db"), sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	gate := filepath.Join(e.dir, "seen")
	id := e.insert(t, e.job(`echo first; echo to stderr >&2; while [ ! -e seen ]; do sleep 0.05; done; echo second`))[0]

	done := make(chan queue.Summary, 1)
	go func() { done <- drain(t, context.Background(), e.runner(t, 1)) }()

	var a *queue.Attempt
	for deadline := time.Now().Add(drainLimit); time.Now().Before(deadline); {
		res, err := reader.AttemptOutput(t.Context(), queue.AttemptOutputParams{JobID: id})
		if err != nil {
			t.Fatalf("AttemptOutput: %v", err)
		}
		if a = res.Attempt; a != nil && strings.Contains(string(a.Output), "to stderr\n") {
			break
		}
		_ = reader.Wait(t.Context(), time.Second)
	}
	if a == nil || !a.Running() || string(a.Output) != "first\nto stderr\n" || a.OutputSize != int64(len(a.Output)) {
		t.Fatalf("while the job runs: %+v; want its output so far, running", a)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if sum := <-done; sum.Succeeded != 1 {
		t.Fatalf("drain: %+v; want one success", sum)
	}
	res, err := reader.AttemptOutput(t.Context(), queue.AttemptOutputParams{JobID: id})
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Attempt; a == nil || a.Running() || !a.Succeeded() || string(a.Output) != "first\nto stderr\nsecond\n" || a.OutputSize != 23 {
		t.Errorf("after the job: %+v; want the whole output, succeeded", a)
	}
}
