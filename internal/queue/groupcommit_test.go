package queue_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestShortJobsShareCommits: a runner of short jobs claims ahead, so that
// one commit records several outcomes and claims several jobs; every job
// still runs once and succeeds.
func TestShortJobsShareCommits(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const n = 60
	var params []queue.JobInsertParams
	for range n {
		params = append(params, e.job(`echo "$JOBQ_JOB_ID" >> ran`))
	}
	ids := e.insert(t, params...)
	r := e.runner(t, 2)
	// Every job is short, however slow the machine, and outcomes wait for
	// a slot to free, not for a time.
	r.SetGroupCommit(time.Hour, time.Hour)
	store := &countingStore{Store: e.store}
	r.Store = store
	if sum := drain(t, t.Context(), r); sum != (queue.Summary{Succeeded: n}) {
		t.Errorf("summary %+v, want %d succeeded", sum, n)
	}
	if c := store.claims.Load(); c > n/3 {
		t.Errorf("%d commits for %d jobs, want at most %d: jobs claimed ahead share commits", c, n, n/3)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "ran"))
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		runs[id]++
	}
	for _, id := range ids {
		if j := e.get(t, id); j.State != queue.StateSucceeded || j.Attempts != 1 || runs[strconv.FormatInt(id, 10)] != 1 {
			t.Errorf("job %d: %s after %d attempts, ran %d times; want succeeded, run once", id, j.State, j.Attempts, runs[strconv.FormatInt(id, 10)])
		}
	}
}

// TestOutcomeNotHeldByLongJob: the outcome of a short job is committed
// soon even when both slots then run long jobs, one of them claimed
// ahead, and no slot frees to make a commit: outcomes wait for a commit
// at most outcomeDelay, not for the long jobs.
func TestOutcomeNotHeldByLongJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// A ends and the runner claims C, D, E ahead; C ends and D starts
	// beside B: both slots are busy for a minute, with E held ahead.
	ids := e.insert(t, e.job("true"), e.job("sleep 60"), e.job("true"), e.job("touch long; sleep 60"), e.job("true"))
	r := e.runner(t, 2)
	r.SetGroupCommit(time.Hour, 0)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		drain(t, ctx, r)
	}()
	waitFor(filepath.Join(e.dir, "long"))
	deadline := time.Now().Add(drainLimit)
	for e.get(t, ids[2]).State != queue.StateSucceeded {
		if time.Now().After(deadline) {
			t.Fatalf("job %d did not succeed within %v while long jobs ran", ids[2], drainLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range []int64{ids[1], ids[3]} {
		if j := e.get(t, id); j.State != queue.StateRunning {
			t.Errorf("long job %d is %s, want still running", id, j.State)
		}
	}
	stop()
	<-done
}

// TestJobsClaimedAheadHandedBack: stopped while it holds jobs claimed
// ahead, a runner hands them back unstarted, with no attempt used, as it
// does a job it stops.
func TestJobsClaimedAheadHandedBack(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first := e.job("true")
	var params []queue.JobInsertParams
	for range 6 {
		params = append(params, e.job(`echo "$JOBQ_JOB_ID" >> ran; touch running; sleep 60`))
	}
	e.insert(t, first)
	ids := e.insert(t, params...)
	r := e.runner(t, 1)
	r.SetGroupCommit(time.Hour, 0) // the first job makes the runner claim ahead
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan queue.Summary)
	go func() { done <- drain(t, ctx, r) }()
	waitFor(filepath.Join(e.dir, "running"))
	stop()
	sum := <-done
	// One claimed with the first job's outcome, four more ahead of it.
	if sum != (queue.Summary{Succeeded: 1, HandedBack: 1 + 4}) {
		t.Errorf("summary %+v, want 1 succeeded and 5 handed back (1 stopped, 4 claimed ahead)", sum)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "ran"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); len(got) != 1 {
		t.Errorf("jobs started: %v, want only one", got)
	}
	for _, id := range ids {
		if j := e.get(t, id); j.State != queue.StatePending || j.Attempts != 0 {
			t.Errorf("job %d: %s after %d attempts, want pending after 0", id, j.State, j.Attempts)
		}
	}
}
