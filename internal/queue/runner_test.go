package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// drainLimit fails a test whose Drain hangs, far above what its jobs need.
const drainLimit = 30 * time.Second

type runnerEnv struct {
	store *sqlite.Store
	dir   string // where jobs run and leave their traces
}

// setup opens a real SQLite store in t.TempDir() for a runner to drain.
func setup(t testing.TB) *runnerEnv {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "db", "jobq.db"), sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &runnerEnv{store: s, dir: dir}
}

func (e *runnerEnv) runner(t testing.TB, concurrency int) *queue.Runner {
	return &queue.Runner{
		Store:    e.store,
		Notifier: e.store,
		Exec: &queue.Executor{
			Environ:     os.Environ(),
			DB:          filepath.Join(e.dir, "db", "jobq.db"),
			OutputLimit: 1 << 16,
			KillGrace:   time.Second,
			Now:         time.Now,
		},
		Worker:      "test:1",
		Concurrency: concurrency,
		Lease:       30 * time.Second,
		Grace:       0,
		Now:         time.Now,
		Jitter:      func() float64 { return 0.5 },
		Log:         slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
}

// job is a shell command to run now in the env's directory.
func (e *runnerEnv) job(command string) queue.JobInsertParams {
	now := time.Now()
	return queue.JobInsertParams{
		Queue: "default", State: queue.StatePending, Command: command, Argv: queue.ShellArgv(command),
		Dir: e.dir, RunAt: now, MaxAttempts: 3, CreatedAt: now,
	}
}

func (e *runnerEnv) insert(t *testing.T, params ...queue.JobInsertParams) []int64 {
	t.Helper()
	ids, err := e.store.JobInsert(t.Context(), queue.Jobs(params...))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (e *runnerEnv) get(t *testing.T, id int64) *queue.Job {
	t.Helper()
	j, err := e.store.JobGet(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// drain runs r.Drain and fails the test if it does not return in time.
func drain(t *testing.T, ctx context.Context, r *queue.Runner) queue.Summary {
	t.Helper()
	type result struct {
		sum queue.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := r.Drain(ctx)
		done <- result{sum, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("Drain: %v", res.err)
		}
		return res.sum
	case <-time.After(drainLimit):
		t.Fatalf("Drain did not return within %v", drainLimit)
		return queue.Summary{}
	}
}

// waitFor waits until path exists.
func waitFor(path string) {
	for deadline := time.Now().Add(drainLimit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
}

func TestDrainRunsReadyJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	later := e.job("touch later")
	later.State, later.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	ids := e.insert(t,
		e.job("echo one > one"),
		e.job("echo two > two"),
		e.job("echo three > three"),
		e.job("echo four > four"),
		later,
	)
	sum := drain(t, t.Context(), e.runner(t, 2))
	if sum != (queue.Summary{Succeeded: 4}) {
		t.Errorf("summary %+v, want 4 succeeded", sum)
	}
	for i, name := range []string{"one", "two", "three", "four"} {
		if j := e.get(t, ids[i]); j.State != queue.StateSucceeded || j.Attempts != 1 {
			t.Errorf("job %s: state %s attempts %d, want succeeded after 1", name, j.State, j.Attempts)
		}
		if b, err := os.ReadFile(filepath.Join(e.dir, name)); err != nil || string(b) != name+"\n" {
			t.Errorf("job %s left %q, %v", name, b, err)
		}
	}
	if j := e.get(t, ids[4]); j.State != queue.StateScheduled || j.Attempts != 0 {
		t.Errorf("the job not yet due is %s after %d attempts, want scheduled and untouched", j.State, j.Attempts)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "later")); err == nil {
		t.Error("the job not yet due ran")
	}
}

// TestDrainConcurrency: with -c 2, two jobs that each wait for the other
// to start can both succeed; run one at a time, neither could.
func TestDrainConcurrency(t *testing.T) {
	t.Parallel()
	e := setup(t)
	wait := func(me, other string) queue.JobInsertParams {
		p := e.job("touch " + me + "; i=0; while [ ! -e " + other + " ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; test -e " + other)
		p.MaxAttempts = 1
		return p
	}
	ids := e.insert(t, wait("a", "b"), wait("b", "a"))
	sum := drain(t, t.Context(), e.runner(t, 2))
	if sum != (queue.Summary{Succeeded: 2}) {
		t.Errorf("summary %+v, want 2 succeeded: the jobs did not run at the same time", sum)
	}
	for _, id := range ids {
		if j := e.get(t, id); j.State != queue.StateSucceeded {
			t.Errorf("job %d is %s", id, j.State)
		}
	}
}

func TestDrainRetriesThenDead(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := e.job("echo attempt $JOBQ_ATTEMPT; exit 1")
	p.MaxAttempts, p.Backoff = 2, 0
	id := e.insert(t, p)[0]
	sum := drain(t, t.Context(), e.runner(t, 2))
	if sum != (queue.Summary{Retrying: 1, Dead: 1}) {
		t.Errorf("summary %+v, want 1 retrying, 1 dead", sum)
	}
	j := e.get(t, id)
	if j.State != queue.StateDead || j.Attempts != 2 || j.ExitCode == nil || *j.ExitCode != 1 || j.LastError != "exit status 1" {
		t.Errorf("job: state %s attempts %d exit %v error %q; want dead after 2, exit 1", j.State, j.Attempts, j.ExitCode, j.LastError)
	}
	history, err := e.store.AttemptList(t.Context(), id)
	if err != nil || len(history) != 2 {
		t.Fatalf("history: %d attempts, %v; want 2", len(history), err)
	}
	for i, a := range history {
		if a.Attempt != i+1 || a.Worker != "test:1" || a.ExitCode == nil || *a.ExitCode != 1 || string(a.Output) != "attempt "+string(rune('1'+i))+"\n" {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
}

func TestDrainSummary(t *testing.T) {
	t.Parallel()
	e := setup(t)
	flaky := e.job("if [ -e flaky ]; then exit 0; fi; touch flaky; exit 1")
	flaky.Backoff = 0
	permanent := e.job("exit 3")
	permanent.PermanentExit = []int{3}
	ids := e.insert(t, e.job("true"), flaky, permanent, e.job("true"))
	sum := drain(t, t.Context(), e.runner(t, 2))
	if want := (queue.Summary{Succeeded: 3, Retrying: 1, Dead: 1}); sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	for i, want := range []queue.State{queue.StateSucceeded, queue.StateSucceeded, queue.StateDead, queue.StateSucceeded} {
		if j := e.get(t, ids[i]); j.State != want {
			t.Errorf("job %d is %s, want %s", ids[i], j.State, want)
		}
	}
	if j := e.get(t, ids[2]); j.Attempts != 1 || j.LastError != "exit status 3 (permanent)" {
		t.Errorf("permanent failure: attempts %d error %q; want 1 attempt", j.Attempts, j.LastError)
	}
}

func TestDrainNothingReady(t *testing.T) {
	t.Parallel()
	e := setup(t)
	later := e.job("true")
	later.State, later.RunAt = queue.StateScheduled, time.Now().Add(time.Hour)
	e.insert(t, later)
	if sum := drain(t, t.Context(), e.runner(t, 1)); sum != (queue.Summary{}) {
		t.Errorf("summary %+v, want nothing done", sum)
	}
}

func TestDrainCancelHandsBack(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.insert(t, e.job("touch started; exec sleep 30"))[0]
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		waitFor(filepath.Join(e.dir, "started"))
		cancel()
	}()
	sum := drain(t, ctx, e.runner(t, 2)) // Grace 0
	if sum != (queue.Summary{HandedBack: 1}) {
		t.Errorf("summary %+v, want 1 handed back", sum)
	}
	j := e.get(t, id)
	if j.State != queue.StatePending || j.Attempts != 0 || j.Run != 1 {
		t.Errorf("job: state %s attempts %d run %d; want pending with no attempt used", j.State, j.Attempts, j.Run)
	}
	history, err := e.store.AttemptList(t.Context(), id)
	if err != nil || len(history) != 1 || history[0].Error != queue.ErrShutdown.Error() || history[0].FinishedAt.IsZero() {
		t.Errorf("history %+v, %v; want the interrupted attempt", history, err)
	}
}

func TestDrainCancelWithinGrace(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := e.insert(t, e.job("touch started; sleep 0.3"), e.job("true"), e.job("true"))
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		waitFor(filepath.Join(e.dir, "started"))
		cancel()
	}()
	r := e.runner(t, 1)
	r.Grace = drainLimit
	sum := drain(t, ctx, r)
	if sum != (queue.Summary{Succeeded: 1}) {
		t.Errorf("summary %+v, want only the running job to finish", sum)
	}
	if j := e.get(t, ids[0]); j.State != queue.StateSucceeded {
		t.Errorf("the job running at cancel is %s, want succeeded within the grace", j.State)
	}
	for _, id := range ids[1:] {
		if j := e.get(t, id); j.State != queue.StatePending || j.Attempts != 0 {
			t.Errorf("job %d was claimed after cancel: %s", id, j.State)
		}
	}
}

// TestDrainLeaseLost: once another party owns the job, the heartbeat
// notices, the runner stops the job and does not record its outcome.
func TestDrainLeaseLost(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.insert(t, e.job("touch started; exec sleep 30"))[0]
	go func() {
		waitFor(filepath.Join(e.dir, "started"))
		j, err := e.store.JobGet(context.Background(), id)
		if err != nil {
			return
		}
		// As an operator's cancel or another worker's takeover would.
		e.store.JobClaim(context.Background(), queue.JobClaimParams{Now: time.Now(), Finish: []queue.JobFinishParams{
			{ID: id, Run: j.Run, State: queue.StateDead, Attempts: j.Attempts, FinishedAt: time.Now(), Error: "taken"},
		}})
	}()
	r := e.runner(t, 1)
	r.Lease = 300 * time.Millisecond
	sum := drain(t, t.Context(), r)
	if sum != (queue.Summary{}) {
		t.Errorf("summary %+v, want nothing recorded", sum)
	}
	if j := e.get(t, id); j.State != queue.StateDead || j.LastError != "taken" {
		t.Errorf("job: state %s error %q; the runner overwrote the new owner's outcome", j.State, j.LastError)
	}
}

// TestDrainStoreErrorStopsJobs: when the store fails, Drain returns the
// error, but not before it has stopped the jobs it runs: none is left
// behind running unwatched.
func TestDrainStoreErrorStopsJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t,
		e.job("touch a.started; while [ ! -e go ]; do sleep 0.05; done"),
		e.job("echo $$ > b.pid; exec sleep 30"),
	)
	go func() {
		waitFor(filepath.Join(e.dir, "a.started"))
		waitFor(filepath.Join(e.dir, "b.pid"))
		e.store.Close() // the next JobClaim fails
		os.WriteFile(filepath.Join(e.dir, "go"), nil, 0o600)
	}()
	done := make(chan error, 1)
	go func() {
		_, err := e.runner(t, 2).Drain(t.Context())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Drain on a closed store returned no error")
		}
	case <-time.After(drainLimit):
		t.Fatalf("Drain did not return within %v", drainLimit)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "b.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH && !isZombie(pid) {
		t.Errorf("job process %d still runs after Drain returned", pid)
	}
}

// isZombie reports whether pid is dead but not yet reaped by its parent.
func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

// TestDrainFiresDueSchedule: drain fires a due tick and runs its job; a
// second drain at the same (injected) moment finds the tick taken.
func TestDrainFiresDueSchedule(t *testing.T) {
	t.Parallel()
	e := setup(t)
	job := e.job("touch fired")
	job.State, job.RunAt, job.CreatedAt = "", time.Time{}, time.Time{}
	tick := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	if _, err := e.store.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{
		Schedule: queue.Schedule{Name: "s", Expr: "0 * * * *", Zone: "UTC", Overlap: queue.OverlapSkip,
			Job: job, NextAt: tick, DueAt: tick},
		Now: tick,
	}}); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return tick.Add(90 * time.Minute) }
	for range 2 {
		r := e.runner(t, 1)
		r.Now = clock
		ctx, cancel := context.WithTimeout(t.Context(), drainLimit)
		_, err := r.Drain(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := e.store.JobList(t.Context(), queue.JobFilter{Now: clock()})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs after two drains = %d, %v; want 1", len(jobs), err)
	}
	if j := jobs[0]; j.State != queue.StateSucceeded || !j.ScheduleTick.Equal(tick.Add(time.Hour)) {
		t.Errorf("job = %s for tick %v; want succeeded for %v", j.State, j.ScheduleTick, tick.Add(time.Hour))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "fired")); err != nil {
		t.Errorf("the job did not run: %v", err)
	}
}

// unreadClaims is a real store whose first claim of jobs commits but
// whose answer is lost, as a PostgreSQL claim whose rows cannot be read
// (or whose connection drops as it commits) ends: the jobs it took are
// running and the runner never hears of them.
type unreadClaims struct {
	*sqlite.Store
	lost bool
}

func (s *unreadClaims) JobClaim(ctx context.Context, p queue.JobClaimParams) (*queue.JobClaimResult, error) {
	res, err := s.Store.JobClaim(ctx, p)
	if err == nil && p.Limit > 0 && !s.lost {
		s.lost = true
		return nil, fmt.Errorf("claim: %w", queue.ErrCommitUnknown)
	}
	return res, err
}

// TestDrainUnknownClaim: a claim whose outcome Drain cannot know may have
// taken jobs it never runs: Drain goes on with the others, then says so
// (UnknownClaimError, with its Summary), rather than report the queue
// drained.
func TestDrainUnknownClaim(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := e.insert(t, e.job("true"), e.job("true"))
	r := e.runner(t, 1)
	r.Store = &unreadClaims{Store: e.store}
	sum, err := r.Drain(t.Context())
	var unknown *queue.UnknownClaimError
	if !errors.As(err, &unknown) || !errors.Is(err, queue.ErrCommitUnknown) {
		t.Fatalf("Drain after a claim it could not hear = %v; want an UnknownClaimError", err)
	}
	if sum.Succeeded != 1 {
		t.Errorf("Drain's summary %+v; want the other job run", sum)
	}
	if j := e.get(t, ids[0]); j.State != queue.StateRunning {
		t.Errorf("the job of the lost claim is %s, want running (until its lease expires)", j.State)
	}
}
