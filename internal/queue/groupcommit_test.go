package queue_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
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

// commitLog is a store that records the outcomes of each commit.
type commitLog struct {
	*sqlite.Store
	mu      sync.Mutex
	commits [][]queue.JobFinishParams
}

func (s *commitLog) JobClaim(ctx context.Context, p queue.JobClaimParams) (*queue.JobClaimResult, error) {
	res, err := s.Store.JobClaim(ctx, p)
	if err == nil && len(p.Finish) > 0 {
		s.mu.Lock()
		s.commits = append(s.commits, p.Finish)
		s.mu.Unlock()
	}
	return res, err
}

// TestOutcomeNotHeldByLongJob: the outcome of a short job is committed
// soon even when both slots then run long jobs, and no slot frees to make
// a commit: outcomes wait for a commit at most outcomeDelay, not for the
// long jobs, nor for the job claimed ahead behind them to go back (at
// 2·outcomeDelay from its claim, in a commit that would take them too).
func TestOutcomeNotHeldByLongJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// A ends and the runner claims C, D, E ahead; C ends and D starts
	// beside B: both slots are busy for a minute, with E held ahead.
	ids := e.insert(t, e.job("true"), e.job("sleep 60"), e.job("true"), e.job("touch long; sleep 60"), e.job("true"))
	r := e.runner(t, 2)
	// Shorter than half cancelCheckEvery: no cancel check commits first.
	const delay = 150 * time.Millisecond
	r.SetGroupCommit(time.Hour, delay)
	store := &commitLog{Store: e.store}
	r.Store = store
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		drain(t, ctx, r)
	}()
	waitFor(filepath.Join(e.dir, "long"))
	for deadline := time.Now().Add(time.Second); e.get(t, ids[2]).State != queue.StateSucceeded; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("job %d did not succeed within 1 s (outcomeDelay %v) while long jobs ran", ids[2], delay)
		}
	}
	if j := waitState(t, e, ids[4], queue.StatePending, time.Second); j.State != queue.StatePending {
		t.Errorf("job %d is %s, want handed back pending, claimed ahead behind the long jobs", ids[4], j.State)
	}
	for _, id := range []int64{ids[1], ids[3]} {
		if j := e.get(t, id); j.State != queue.StateRunning {
			t.Errorf("long job %d is %s, want still running", id, j.State)
		}
	}
	stop()
	<-done
	// E was claimed ahead (handed back unstarted), and C's outcome was
	// committed before: not with E's hand-back.
	var withC, withE int
	for i, c := range store.commits {
		for _, p := range c {
			switch {
			case p.ID == ids[2]:
				withC = i + 1
			case p.ID == ids[4] && p.Unstarted:
				withE = i + 1
			}
		}
	}
	// E goes back at 2·delay from its claim, C's outcome at most delay
	// after C ended: C, claimed with E, must have ended within delay of
	// that claim for the two to fall in different commits. On a machine
	// so loaded that forking `true` took longer, they may share one.
	c := e.get(t, ids[2])
	if ran := c.FinishedAt.Sub(c.StartedAt); ran > delay/2 {
		t.Logf("job %d ran %v (more than half of outcomeDelay %v): its commit's order against the hand-back is not checked", ids[2], ran, delay)
		return
	}
	if withC == 0 || withE == 0 || withC >= withE {
		t.Errorf("job %d recorded in commit %d, job %d handed back unstarted in commit %d (0: none); want the outcome first, on its own", ids[2], withC, ids[4], withE)
	}
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
	if sum != (queue.Summary{Succeeded: 1, HandedBack: 1, NotStarted: 4}) {
		t.Errorf("summary %+v, want 1 succeeded, 1 handed back (stopped) and 4 not started (claimed ahead)", sum)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "ran"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); len(got) != 1 {
		t.Errorf("jobs started: %v, want only one", got)
	}
	for i, id := range ids {
		if j := e.get(t, id); j.State != queue.StatePending || j.Attempts != 0 {
			t.Errorf("job %d: %s after %d attempts, want pending after 0", id, j.State, j.Attempts)
		}
		if i == 0 {
			continue // it started: its attempt stays, handed back
		}
		// The jobs that never started have no trace of a run.
		if j := e.get(t, id); j.Run != 0 {
			t.Errorf("job %d never started: run %d, want 0", id, j.Run)
		}
		if as, err := e.store.AttemptList(t.Context(), id); err != nil || len(as) != 0 {
			t.Errorf("job %d never started: history %+v, %v; want no attempt", id, as, err)
		}
	}
}

// behindLong starts a 1-slot runner on [true, long, 3 x short]: the first
// job makes it claim ahead (it takes every job as short) and the long one
// then holds the slot, with the short ones claimed ahead behind it. A
// delay of an hour keeps them there as long as nothing stops them.
func behindLong(t *testing.T, e *runnerEnv, grace, delay time.Duration) (ids []int64, stop func(), done chan queue.Summary) {
	ids = e.insert(t, e.job("true"), e.job("touch long; sleep 20"),
		e.job(`echo "$JOBQ_JOB_ID" >> ran`), e.job(`echo "$JOBQ_JOB_ID" >> ran`), e.job(`echo "$JOBQ_JOB_ID" >> ran`))
	r := e.runner(t, 1)
	r.Grace = grace
	r.SetGroupCommit(time.Hour, delay)
	ctx, cancel := context.WithCancel(t.Context())
	done = make(chan queue.Summary, 1)
	go func() { done <- drain(t, ctx, r) }()
	waitFor(filepath.Join(e.dir, "long"))
	t.Cleanup(func() { cancel(); <-done })
	return ids, cancel, done
}

// ranJobs lists the jobs that ran, from the file "ran".
func ranJobs(t *testing.T, e *runnerEnv) []string {
	b, err := os.ReadFile(filepath.Join(e.dir, "ran"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// waitState waits up to d for job id to be in state want.
func waitState(t *testing.T, e *runnerEnv, id int64, want queue.State, d time.Duration) *queue.Job {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		j := e.get(t, id)
		if j.State == want || time.Now().After(deadline) {
			return j
		}
	}
}

// TestCancelAheadBehindLong: jobq cancel of a job claimed ahead, behind a
// long job, takes effect within about a second, not when the slot frees.
func TestCancelAheadBehindLong(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids, _, _ := behindLong(t, e, 0, time.Hour)
	if j := e.get(t, ids[2]); j.State != queue.StateRunning {
		t.Fatalf("job %d is %s, want running (claimed ahead)", ids[2], j.State)
	}
	if _, err := e.store.JobCancel(t.Context(), queue.JobCancelParams{IDs: ids[2:3], Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// About a second (cancelCheckEvery) on a quiet machine; 10 s allows
	// for a loaded one and is still far from the hour the long job holds
	// its slot.
	if j := waitState(t, e, ids[2], queue.StateCancelled, 10*time.Second); j.State != queue.StateCancelled || j.Run != 0 {
		t.Errorf("job %d claimed ahead, cancelled 10 s ago: %s, run %d; want cancelled, run 0", ids[2], j.State, j.Run)
	}
}

// TestCancelledAheadNotRunLater: a job claimed ahead whose cancel the
// store accepted just before the runner stopped ends cancelled, not
// handed back pending to run later, and the runner counts it cancelled
// (the store reports it: JobClaimResult.Cancelled), not as not started.
func TestCancelledAheadNotRunLater(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids, stop, done := behindLong(t, e, 0, time.Hour)
	if _, err := e.store.JobCancel(t.Context(), queue.JobCancelParams{IDs: ids[2:3], Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	stop()
	sum := <-done
	done <- queue.Summary{} // for the cleanup
	if want := (queue.Summary{Succeeded: 1, HandedBack: 1, Cancelled: 1, NotStarted: 2}); sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	if j := e.get(t, ids[2]); j.State != queue.StateCancelled {
		t.Errorf("job %d cancelled, then its runner stopped: %s, want cancelled", ids[2], j.State)
	}
	drain(t, t.Context(), e.runner(t, 1))
	if got := ranJobs(t, e); slices.Contains(got, strconv.FormatInt(ids[2], 10)) {
		t.Errorf("job %d ran after jobq cancel accepted it (ran: %v)", ids[2], got)
	}
}

// TestAheadHandedBackAtStopDespiteGrace: a runner told to stop hands its
// jobs claimed ahead back at once, not when the grace of its running
// job ends.
func TestAheadHandedBackAtStopDespiteGrace(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids, stop, _ := behindLong(t, e, time.Minute, time.Hour)
	stop()
	for _, id := range ids[2:] {
		if j := waitState(t, e, id, queue.StatePending, 2*time.Second); j.State != queue.StatePending || j.Run != 0 {
			t.Errorf("2 s after stop, job %d claimed ahead is %s, run %d; want handed back pending, run 0", id, j.State, j.Run)
		}
	}
}

// TestAheadNotStuckBehindLong: jobs claimed ahead that no slot starts
// soon go back, so an idle second worker runs them, and a queue paused
// meanwhile stops them.
func TestAheadNotStuckBehindLong(t *testing.T) {
	t.Parallel()
	t.Run("second worker", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		ids, _, _ := behindLong(t, e, 0, 0)
		for _, id := range ids[2:] {
			if j := waitState(t, e, id, queue.StatePending, time.Second); j.State != queue.StatePending {
				t.Errorf("job %d claimed ahead, 1 s behind a long job: %s, want handed back pending", id, j.State)
			}
		}
		b := e.runner(t, 1)
		b.Worker = "test:2"
		if sum := drain(t, t.Context(), b); sum.Succeeded != 3 {
			t.Errorf("idle second worker: %+v, want the 3 short jobs succeeded", sum)
		}
		for _, id := range ids[2:] {
			if j := e.get(t, id); j.State != queue.StateSucceeded || j.Run != 1 {
				t.Errorf("job %d: %s, run %d; want succeeded at run 1", id, j.State, j.Run)
			}
		}
	})
	t.Run("pause", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.insert(t, e.job("true"), e.job("touch long; sleep 2"),
			e.job(`echo "$JOBQ_JOB_ID" >> ran`), e.job(`echo "$JOBQ_JOB_ID" >> ran`))
		r := e.runner(t, 1)
		r.SetGroupCommit(time.Hour, 0)
		done := make(chan queue.Summary, 1)
		go func() { done <- drain(t, t.Context(), r) }()
		waitFor(filepath.Join(e.dir, "long"))
		yes := true
		if err := e.store.QueueSet(t.Context(), queue.QueueSetParams{Name: "default", Paused: &yes}); err != nil {
			t.Fatal(err)
		}
		<-done
		if got := ranJobs(t, e); len(got) > 0 {
			t.Errorf("jobs %v started after their queue was paused", got)
		}
	})
}

// TestAheadKeepsPriority: a job of higher priority enqueued while jobs
// wait claimed ahead behind a long one runs before them.
func TestAheadKeepsPriority(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t, e.job("true"), e.job("touch long; sleep 1"), e.job(`echo low >> ran`), e.job(`echo low >> ran`))
	r := e.runner(t, 1)
	r.SetGroupCommit(time.Hour, 0)
	done := make(chan queue.Summary, 1)
	go func() { done <- drain(t, t.Context(), r) }()
	waitFor(filepath.Join(e.dir, "long"))
	hi := e.job(`echo high >> ran`)
	hi.Priority = 100
	e.insert(t, hi)
	<-done
	if got := ranJobs(t, e); len(got) == 0 || got[0] != "high" {
		t.Errorf("ran %v: the job of priority 100 ran after those claimed ahead before it came", got)
	}
}

// TestLastAttemptNotHeldAhead: a job whose claim would use its last
// attempt is not claimed ahead at all, where a lost worker would leave it
// dead unrun: the claim that starts the long job stops before them (the
// claim commits before the long job starts), and none is claimed while
// it runs.
func TestLastAttemptNotHeldAhead(t *testing.T) {
	t.Parallel()
	e := setup(t)
	last := e.job(`echo "$JOBQ_JOB_ID" >> ran`)
	last.MaxAttempts = 1
	ids := e.insert(t, e.job("true"), e.job("touch long; sleep 20"), last, last)
	r := e.runner(t, 1)
	r.SetGroupCommit(time.Hour, time.Hour)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan queue.Summary, 1)
	go func() { done <- drain(t, ctx, r) }()
	defer func() { stop(); <-done }()
	waitFor(filepath.Join(e.dir, "long"))
	for _, id := range ids[2:] {
		if j := e.get(t, id); j.State != queue.StatePending || j.Attempts != 0 || j.Run != 0 {
			t.Errorf("job %d of 1 attempt behind a long job: %s, attempts %d, run %d; want pending, 0, 0", id, j.State, j.Attempts, j.Run)
		}
		evs, err := e.store.EventList(t.Context(), queue.EventListParams{JobID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Errorf("job %d of 1 attempt: events %+v, want its insert alone (never claimed ahead)", id, evs)
		}
	}
}

// TestRunningCountsStartedJobs: Snapshot.Running (the running gauge,
// systemd's status) counts the jobs started, not those claimed ahead.
func TestRunningCountsStartedJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var params []queue.JobInsertParams
	for range 20 {
		params = append(params, e.job("true"))
	}
	e.insert(t, params...)
	r := e.runner(t, 1)
	r.SetGroupCommit(time.Hour, time.Hour)
	var mu sync.Mutex
	most := 0
	r.OnLoop = func(s queue.Snapshot) { mu.Lock(); most = max(most, s.Running); mu.Unlock() }
	drain(t, t.Context(), r)
	if most != 1 {
		t.Errorf("a 1-slot runner reported at most %d running jobs, want 1", most)
	}
}

// stuckStore fails every heartbeat and claim while stuck is set: a
// database that does not answer.
type stuckStore struct {
	*sqlite.Store
	stuck atomic.Bool
}

func (s *stuckStore) JobHeartbeat(ctx context.Context, p queue.JobHeartbeatParams) (*queue.JobHeartbeatResult, error) {
	if s.stuck.Load() {
		return nil, queue.ErrBusy
	}
	return s.Store.JobHeartbeat(ctx, p)
}

func (s *stuckStore) JobClaim(ctx context.Context, p queue.JobClaimParams) (*queue.JobClaimResult, error) {
	if s.stuck.Load() {
		return nil, queue.ErrBusy
	}
	return s.Store.JobClaim(ctx, p)
}

// TestAheadLeaseNotRenewedHandedBack: jobs claimed ahead whose leases
// could not be renewed, and had expired by the time the database
// answered again, go back unstarted, not as failed attempts.
func TestAheadLeaseNotRenewedHandedBack(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := e.insert(t, e.job("true"), e.job("touch long; sleep 20"), e.job("true"), e.job("true"))
	r := e.runner(t, 1)
	r.Lease = 600 * time.Millisecond
	r.SetGroupCommit(time.Hour, time.Hour)
	store := &stuckStore{Store: e.store}
	r.Store = store
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan queue.Summary, 1)
	go func() { done <- drain(t, ctx, r) }()
	defer func() { stop(); <-done }()
	waitFor(filepath.Join(e.dir, "long"))
	store.stuck.Store(true)
	time.Sleep(2 * r.Lease) // every lease ends unrenewed
	store.stuck.Store(false)
	// They go back, then run: no failed attempt, one at most.
	for _, id := range ids[2:] {
		waitState(t, e, id, queue.StateSucceeded, 3*time.Second)
		as, err := e.store.AttemptList(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j := e.get(t, id); j.Attempts > 1 || len(as) > 1 || len(as) == 1 && as[0].Error != "" {
			t.Errorf("job %d claimed ahead, its lease not renewed: %s after %d attempts, history %+v; want no failed attempt", id, j.State, j.Attempts, as)
		}
	}
}
