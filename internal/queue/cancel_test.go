package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// TestCancelRunningJobSoon: jobq cancel of a running job takes effect when
// the worker hears of the change, not at its next heartbeat. The lease is
// an hour, so the next heartbeat is twenty minutes away: only the worker's
// reaction to the change can stop the job before the test gives up.
func TestCancelRunningJobSoon(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.insert(t, e.job("touch started; sleep 60"))[0]
	r := e.runner(t, 1)
	r.Lease = time.Hour

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := r.Work(ctx)
		done <- err
	}()
	waitFor(filepath.Join(e.dir, "started"))

	// jobq cancel is another process: another connection to the file.
	other, err := sqlite.Open(t.Context(), filepath.Join(e.dir, "db", "jobq.db"), sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.JobCancel(t.Context(), queue.JobCancelParams{IDs: []int64{id}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(drainLimit); ; time.Sleep(20 * time.Millisecond) {
		if j := e.get(t, id); j.State.Final() {
			if j.State != queue.StateCancelled {
				t.Errorf("job ended %s, want cancelled", j.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s %v after it was cancelled", e.get(t, id).State, drainLimit)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Work: %v", err)
	}
}

// syncBuffer is a bytes.Buffer a logger and a test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// TestLogLinesNameQueueAndAttempt: every line a runner writes about a job
// says which queue it is in and which attempt (the run, as users see it
// numbered) it is about, as docs/cli.md promises.
func TestLogLinesNameQueueAndAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := e.job("test -e again || { touch again; exit 3; }")
	p.Queue, p.MaxAttempts, p.Backoff = "mail", 2, 0
	id := e.insert(t, p)[0]
	r := e.runner(t, 1)
	var out syncBuffer
	r.Log = slog.New(slog.NewJSONHandler(&out, nil))
	drain(t, t.Context(), r)

	type line struct {
		Msg     string
		Job     *int64
		Queue   *string
		Attempt *int
	}
	var finished []int
	for _, raw := range bytes.Split(bytes.TrimSpace(out.b.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("log line %s: %v", raw, err)
		}
		if l.Job == nil {
			continue
		}
		if *l.Job != id || l.Queue == nil || *l.Queue != "mail" || l.Attempt == nil {
			t.Errorf("log line %s: want job %d, queue mail and its attempt", raw, id)
			continue
		}
		if l.Msg == "job finished" {
			finished = append(finished, *l.Attempt)
		}
	}
	if len(finished) != 2 || finished[0] != 1 || finished[1] != 2 {
		t.Errorf("job finished lines of attempts %v, want 1 and 2", finished)
	}
}
