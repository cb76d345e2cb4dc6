package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// unrenewable is a real store whose heartbeats fail, as when the database
// has become unreachable for this worker alone.
type unrenewable struct{ queue.Store }

func (unrenewable) JobHeartbeat(context.Context, queue.JobHeartbeatParams) (*queue.JobHeartbeatResult, error) {
	return nil, errors.New("disk unreachable")
}

// TestUnrenewedLeaseStopsTheJob: a worker that cannot renew a job's lease
// for a whole lease stops the job rather than let another worker run it at
// the same time.
func TestUnrenewedLeaseStopsTheJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.insert(t, e.job("sleep 30"))[0]
	r := e.runner(t, 1)
	r.Store = unrenewable{e.store}
	r.Lease = 1500 * time.Millisecond

	done := make(chan struct{})
	var sum queue.Summary
	var err error
	go func() {
		defer close(done)
		sum, err = r.Drain(t.Context())
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Drain still runs a job whose lease it could not renew")
	}
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	job := e.get(t, id)
	if job.State == queue.StateSucceeded || !strings.Contains(job.LastError, "lease not renewed") {
		t.Errorf("job ended %s with %q, want it stopped for its lost lease", job.State, job.LastError)
	}
	if sum.Succeeded != 0 {
		t.Errorf("summary %+v: nothing should have succeeded", sum)
	}
}
