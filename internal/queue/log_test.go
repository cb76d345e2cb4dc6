package queue_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

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
	// slog's handlers write a line at a time, under a lock of their own,
	// and the test reads once Drain has returned.
	var out bytes.Buffer
	r.Log = slog.New(slog.NewJSONHandler(&out, nil))
	drain(t, t.Context(), r)

	type line struct {
		Msg     string
		Job     *int64
		Queue   *string
		Attempt *int
	}
	var finished []int
	for _, raw := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
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
