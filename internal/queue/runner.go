package queue

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// errLeaseLost is the cause given to a job's context when its worker no
// longer holds it: another worker took it back after the lease expired.
var errLeaseLost = errors.New("lease lost: another worker took the job")

// errLeaseNotRenewed is the cause given to a job's context when its worker
// could not renew its lease for a whole lease: another worker may take it.
var errLeaseNotRenewed = errors.New("lease not renewed in time: the database did not answer")

// Log keys, the same in every line a runner writes.
const (
	logJob      = "job"
	logQueue    = "queue"
	logState    = "state"
	logAttempt  = "attempt"
	logError    = "error"
	logSchedule = "schedule"
	logTick     = "tick"
)

// Runner claims ready jobs from a Store and runs them with an Executor,
// Concurrency at a time.
type Runner struct {
	Store       Store
	Notifier    Notifier // tells Work of new jobs; nil: Work looks every Tick
	Exec        *Executor
	Worker      string   // names this process in leases and history
	Queues      []string // empty: every queue
	Concurrency int
	Lease       time.Duration
	Grace       time.Duration // after ctx is done, how long running jobs may finish
	Now         func() time.Time
	Jitter      func() float64 // in [0, 1), varies backoff
	Log         *slog.Logger

	// For Work only.
	Hurry     <-chan struct{}  // closed or sent to: skip the rest of Grace
	Retention Retention        // how long final jobs are kept
	Tick      time.Duration    // the longest the loop sleeps; 0: Lease/2
	OnLoop    func(s Snapshot) // called at every turn of the loop (systemd status, watchdog, health)
	Observer  Observer         // told of claims, ends and failed renewals (metrics); nil: none

	// Tests set these (export_test.go); zero: the consts of the same names.
	shortJob, outcomeDelay time.Duration
}

// Retention says how long final jobs are kept; zero keeps them forever.
type Retention struct {
	Succeeded time.Duration
	Dead      time.Duration // also for cancelled jobs
}

// retentionEvery is how often Work deletes final jobs past their retention,
// retentionBatch how many in one transaction, so that a large backlog of
// old jobs does not hold the write lock for long.
const (
	retentionEvery = 5 * time.Minute
	retentionBatch = 500
)

// cancelCheckEvery bounds how often a busy runner, told that the store
// changed, reads whether its jobs were asked to stop (jobq cancel): a
// cancel then takes effect within about this long, not at the next
// heartbeat, a third of a lease later.
const cancelCheckEvery = 500 * time.Millisecond

// Summary counts what a Drain did, by the outcome of each attempt.
// NotStarted counts the jobs claimed ahead and handed back before they
// started, which made no attempt (cancelled ones count in Cancelled): no
// work done.
type Summary struct {
	Succeeded, Retrying, Dead, Cancelled, HandedBack int
	NotStarted                                       int
}

// Snapshot is what a runner is doing, for status lines. Running counts
// the jobs whose command was started, not those claimed ahead.
type Snapshot struct {
	Running  int
	Stopping bool
	Summary
}

type running struct {
	job     *Job
	ctx     context.Context // the job's; cancel stops it
	cancel  context.CancelCauseFunc
	out     *tailBuffer // the output so far
	claimed time.Time   // when the runner claimed it
	started time.Time   // zero while claimed ahead, not started
	flushed int64       // the out.Size() last written to the store
}

// Group commit. A runner whose jobs are short claims some ahead: the
// jobs it holds beyond its free slots start as soon as a slot frees,
// with no commit between, and their outcomes are recorded together, with
// the next claim, once no claimed job is left to start; so a busy runner
// of short jobs pays one commit (one fsync) for several jobs rather than
// one each. A job's outcome is still committed before it is logged and
// before any job waiting for it is released, and it waits at most
// outcomeDelay for that commit, should the other jobs run long. Jobs are
// short when the last to end ran less than shortJob and none running has
// run as long: long jobs gain nothing from it, and a job claimed ahead
// holds a lease (it shows running) while it waits, behind the runner's
// jobs, and uses an attempt if the worker is lost before it starts.
//
// So a job waits ahead briefly or not at all: one not started within
// 2·outcomeDelay of its claim (stuck behind a job that turned out long),
// and one stopped while it waits (jobq cancel, its lease lost, the runner
// stopping), is handed back, unstarted (JobFinishParams.Unstarted: no
// attempt, no run), in a commit made at once, which claims none ahead.
// Jobs are claimed ahead only by a commit that also fills a free slot,
// and never on their last attempt (JobClaimParams.Ahead), which a lost
// worker would leave dead never having run.
const (
	shortJob     = 10 * time.Millisecond
	claimAhead   = 4 // jobs claimed ahead, per slot
	outcomeDelay = 20 * time.Millisecond
)

// outputFlushEvery is how often a runner writes the new output of its
// running jobs to the store, in one write, for jobq logs -f: a follower
// sees output about this late, from any host. A job that has run less
// than outputFlushAge is left out: short jobs, which end first, cost no
// write at all, and one that prints nothing new costs none either.
const (
	outputFlushEvery = time.Second
	outputFlushAge   = outputFlushEvery / 2
)

// Drain runs ready jobs until none is ready and none of its own is running.
// When ctx is done it claims nothing more, gives running jobs Grace to
// finish, then stops them and hands them back without using an attempt.
// When the store fails, it stops its running jobs and returns the error
// once they are gone. When a claim's commit had an unknown outcome, it
// goes on, and once done returns an UnknownClaimError with its Summary:
// that claim may have taken jobs it never ran.
func (r *Runner) Drain(ctx context.Context) (Summary, error) { return r.run(ctx, false) }

// UnknownClaimError is what Drain returns, once done, when the commit of
// one of its claims had an unknown outcome (ErrCommitUnknown: the
// connection was lost, or the claim was made but its jobs could not be
// read): that claim may have taken jobs that Drain never ran, which stay
// running, their attempt used, until their lease expires and a worker
// takes them back. The queue is not known to be drained.
type UnknownClaimError struct{ Err error }

func (e *UnknownClaimError) Error() string {
	return "a claim may have taken jobs it could not run, left running until their lease expires: " + e.Err.Error()
}

func (e *UnknownClaimError) Unwrap() error { return e.Err }

// Work runs jobs until ctx is done, then stops as Drain does. While idle it
// waits for the store to change (a new job), for the next scheduled job to
// come due, or for half a lease, to take back the jobs of lost workers; and
// every few minutes it deletes final jobs past their retention.
func (r *Runner) Work(ctx context.Context) (Summary, error) { return r.run(ctx, true) }

func (r *Runner) run(ctx context.Context, forever bool) (Summary, error) {
	var sum Summary
	storeCtx := context.WithoutCancel(ctx) // outcomes are recorded even while stopping
	jobsCtx, stopJobs := context.WithCancelCause(storeCtx)
	defer stopJobs(nil)
	go func() {
		select {
		case <-jobsCtx.Done():
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(r.Grace)
		defer t.Stop()
		select {
		case <-jobsCtx.Done():
		case <-t.C:
			stopJobs(ErrShutdown)
		case <-r.Hurry:
			stopJobs(ErrShutdown)
		}
	}()

	var mu sync.Mutex
	held := map[int64]*running{}
	stopBeat := r.heartbeat(storeCtx, &mu, held)
	defer stopBeat()
	stopFlush := r.flushOutput(storeCtx, &mu, held)
	defer stopFlush()

	results := make(chan JobFinishParams, r.Concurrency)
	var finish []JobFinishParams
	var finishSince time.Time // when the oldest outcome of finish came
	var ahead []*running      // claimed, not started yet, in claim order
	started := 0              // jobs of held whose command runs
	short := false            // whether the last job to end was short
	shortJob, outcomeDelay := cmp.Or(r.shortJob, shortJob), cmp.Or(r.outcomeDelay, outcomeDelay)
	var nextRunAt, lastRetention time.Time
	look := true // whether a claim may find something
	// A store change seen while jobs run may be a jobq cancel of one:
	// cancelCheck says one is to be looked for, lastCancelCheck when the
	// last was.
	var cancelCheck bool
	var lastCancelCheck time.Time
	ran := map[int64]*Job{} // the jobs of finish, for their log lines
	// nextFire is when a schedule is next due; zero: look now (at the
	// start, and after a change of the store, which may be a new schedule).
	var nextFire time.Time
	// unknownClaim is the error of the last claim whose commit may have
	// claimed jobs this runner never heard of (ErrCommitUnknown): Drain
	// returns it at its end (UnknownClaimError).
	var unknownClaim error
	for {
		if forever && ctx.Err() == nil && r.Now().Sub(lastRetention) >= retentionEvery {
			r.deleteOld(storeCtx)
			lastRetention = r.Now()
		}
		if ctx.Err() == nil && !nextFire.After(r.Now()) {
			if r.fireSchedules(storeCtx, &nextFire) {
				look = true
			}
		}
		for ; started < r.Concurrency && len(ahead) > 0 && ctx.Err() == nil; started++ {
			r.start(&mu, ahead[0], results)
			ahead = ahead[1:]
		}
		// The jobs left ahead that may not wait go back unstarted, in a
		// commit made now.
		handing := false
		mu.Lock()
		keep := ahead[:0]
		for _, h := range ahead {
			cause := mayNotWait(h, ctx.Err() != nil, 2*outcomeDelay)
			if cause == nil {
				keep = append(keep, h)
				continue
			}
			if len(finish) == 0 {
				finishSince = time.Now()
			}
			finish = append(finish, notStarted(h.job, cause, r.Now()))
			ran[h.job.ID] = h.job
			h.cancel(nil)
			delete(held, h.job.ID)
			handing = true
		}
		mu.Unlock()
		ahead = keep
		// Outcomes wait for a slot to refill (then one commit records
		// them and claims), for at most outcomeDelay. A commit claims
		// what the runner may hold: a job per slot, and when jobs are
		// short and a slot is free, claimAhead more per slot; none when
		// it hands jobs back, which it would claim again.
		free := r.Concurrency - len(held) // slots that no job held fills
		due := len(finish) > 0 && (free > 0 || ctx.Err() != nil || handing || time.Since(finishSince) >= outcomeDelay)
		limit := r.Concurrency - len(held)
		if short && free > 0 && !handing && !runningLong(held, shortJob) {
			limit += claimAhead * r.Concurrency
		}
		if ctx.Err() != nil || !look || free <= 0 && !due {
			limit = 0
		}
		if limit > 0 || due {
			now := r.Now()
			expiredQueue := map[int64]string{}
			// The runner's own jobs never started whose leases expired
			// (the database did not answer for a lease) go back
			// unstarted, not as attempts of a lost worker.
			unstartedRun := map[int64]int{}
			for _, p := range finish {
				if p.Unstarted {
					unstartedRun[p.ID] = p.Run
				}
			}
			for _, h := range ahead {
				unstartedRun[h.job.ID] = h.job.Run
			}
			claimStart := time.Now()
			res, err := r.Store.JobClaim(storeCtx, JobClaimParams{
				Finish: finish, Queues: r.Queues, Limit: limit, Ahead: max(limit-free, 0),
				Worker: r.Worker, Now: now, LeaseUntil: now.Add(r.Lease),
				Expired: func(job *Job) JobFinishParams {
					expiredQueue[job.ID] = job.Queue
					if run, ok := unstartedRun[job.ID]; ok && run == job.Run && job.Worker == r.Worker {
						return notStarted(job, errLeaseNotRenewed, now)
					}
					return LeaseExpired(job, now, r.Jitter())
				},
			})
			r.observer().Claimed(time.Since(claimStart))
			// A commit whose outcome is unknown is tried again too: a
			// finish or a claim is fenced (a finish repeated is lost; a
			// claim not heard of ends as its lease expires).
			if errors.Is(err, ErrBusy) || errors.Is(err, ErrCommitUnknown) {
				msg := "database busy, trying again"
				if !errors.Is(err, ErrBusy) {
					msg = "outcome of a commit unknown, trying again"
					if limit > 0 {
						unknownClaim = err
					}
				}
				r.Log.Warn(msg, logError, err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if err != nil {
				// Leave no job running unwatched: stop them all and wait.
				stopJobs(err)
				for range started {
					<-results
				}
				return sum, err
			}
			for _, p := range res.Expired {
				if p.Unstarted {
					// Its hand-back, or its start, is now fenced off.
					if h, ok := held[p.ID]; ok {
						h.cancel(errLeaseNotRenewed)
					}
					sum.NotStarted++
					r.Log.Warn("lease not renewed, job handed back unstarted", logJob, p.ID, logQueue, expiredQueue[p.ID], logAttempt, p.Run)
					continue
				}
				q, read := expiredQueue[p.ID]
				if !read {
					// Its row could not be read (Unreadable): said once, here,
					// its queue unknown (empty), as the row's is not to be
					// trusted.
					r.Log.Error("worker lost, job taken back: it cannot be read", logJob, p.ID, logQueue, "", logAttempt, p.Run, logState, string(p.State), logError, p.Error)
					continue
				}
				r.Log.Warn("worker lost, job taken back", logJob, p.ID, logQueue, q, logAttempt, p.Run, logState, string(p.State))
			}
			r.logFinished(finish, ran, res, &sum)
			for _, p := range res.Unreadable {
				// Claimed and ended dead by the store, never run: said once,
				// its queue unknown (empty), as for a lost worker's job.
				sum.Dead++
				r.Log.Error("job claimed but cannot be read, ended dead", logJob, p.ID, logQueue, "", logAttempt, p.Run, logState, string(p.State), logError, p.Error)
			}
			if res.Unknown != nil {
				unknownClaim = res.Unknown
				r.Log.Error("jobs claimed but neither run nor ended: they end when their lease expires", logError, res.Unknown)
			}
			finish = nil
			clear(ran)
			nextRunAt = res.NextRunAt
			// A full claim may leave more.
			look = limit > 0 && (len(res.Jobs)+len(res.Unreadable) == limit || res.Unknown != nil)
			mu.Lock()
			for _, job := range res.Jobs {
				jobCtx, cancel := context.WithCancelCause(jobsCtx)
				h := &running{job: job, ctx: jobCtx, cancel: cancel, out: newTailBuffer(r.Exec.OutputLimit), claimed: time.Now()}
				held[job.ID] = h
				ahead = append(ahead, h)
			}
			mu.Unlock()
			for ; started < r.Concurrency && len(ahead) > 0; started++ {
				r.start(&mu, ahead[0], results)
				ahead = ahead[1:]
			}
			// A store may note, as it claims, that it has seen every
			// commit so far (the SQLite store does): a jobq cancel that
			// came just before would then wake no Wait. Look for one.
			cancelCheck = cancelCheck || len(held) > 0
		}
		if r.OnLoop != nil {
			r.OnLoop(Snapshot{Running: started, Stopping: ctx.Err() != nil, Summary: sum})
		}
		// Nothing held and no look due: the queue is drained. A claim
		// that filled its limit with jobs ended as it took them
		// (unreadable rows) holds nothing, yet more may be ready.
		if len(held) == 0 && (!forever && !look || ctx.Err() != nil) {
			if unknownClaim != nil && !forever {
				return sum, &UnknownClaimError{Err: unknownClaim}
			}
			return sum, nil
		}
		if look && len(held) < r.Concurrency && ctx.Err() == nil {
			continue
		}
		// Watch the store for new jobs while there is room for one (Work),
		// and for cancels while jobs run, unless a look for them is due
		// anyway (cancelCheck): a busy runner then costs the store no
		// read each time a job ends.
		watch := r.Notifier != nil && (forever && len(held) < r.Concurrency || len(held) > 0 && !cancelCheck)
		var soon time.Time // a cancel check or a commit of outcomes due
		if cancelCheck {
			soon = lastCancelCheck.Add(cancelCheckEvery)
		}
		if len(finish) > 0 && (soon.IsZero() || finishSince.Add(outcomeDelay).Before(soon)) {
			soon = finishSince.Add(outcomeDelay)
		}
		if len(ahead) > 0 {
			// The oldest wait ahead ends then: the job goes back.
			if end := ahead[0].claimed.Add(2 * outcomeDelay); soon.IsZero() || end.Before(soon) {
				soon = end
			}
		}
		wake := nextRunAt
		if wake.IsZero() || nextFire.Before(wake) {
			wake = nextFire
		}
		p, ok, changed := r.wait(ctx, results, watch, started > 0 && len(ahead) == 0, wake, soon)
		look = true
		if changed {
			nextFire = time.Time{}
		}
		cancelCheck = cancelCheck || changed && len(held) > 0
		if cancelCheck && time.Since(lastCancelCheck) >= cancelCheckEvery {
			r.stopCancelled(storeCtx, &mu, held)
			cancelCheck, lastCancelCheck = false, time.Now()
		}
		if !ok {
			continue
		}
		if len(finish) == 0 {
			finishSince = time.Now()
		}
		ended := []JobFinishParams{p}
	gather:
		for {
			select {
			case p := <-results:
				ended = append(ended, p)
			default:
				break gather
			}
		}
		mu.Lock()
		short = true
		for _, p := range ended {
			h := held[p.ID]
			h.cancel(nil)
			ran[p.ID] = h.job
			if !p.Unstarted {
				short = short && time.Since(h.started) < shortJob
			}
			delete(held, p.ID)
		}
		mu.Unlock()
		started -= len(ended)
		finish = append(finish, ended...)
	}
}

// runningLong says whether a job of held has run shortJob or longer: the
// runner then claims none ahead, which would wait behind it. The loop
// alone writes held, so it may read it without the lock.
func runningLong(held map[int64]*running, shortJob time.Duration) bool {
	for _, h := range held {
		if !h.started.IsZero() && time.Since(h.started) >= shortJob {
			return true
		}
	}
	return false
}

// mayNotWait says why the job h, claimed ahead, may wait no longer for a
// slot, or nil: it was stopped (its context done: cancelled, lease lost),
// the runner is stopping, or it waited limit since its claim.
func mayNotWait(h *running, stopping bool, limit time.Duration) error {
	switch {
	case h.ctx.Err() != nil:
		return context.Cause(h.ctx)
	case stopping:
		return ErrShutdown
	case time.Since(h.claimed) >= limit:
		return errWaitedAhead
	}
	return nil
}

// Causes of a hand-back of a job claimed ahead, never started.
var (
	errWaitedAhead = errors.New("no slot freed soon")
)

// notStarted hands back job, claimed but stopped for cause before its
// command started: the store undoes the claim (Unstarted). A job stopped
// for jobq cancel ends cancelled.
func notStarted(job *Job, cause error, now time.Time) JobFinishParams {
	p := JobFinishParams{
		ID: job.ID, Run: job.Run, State: StatePending, Attempts: job.Attempts - 1,
		FinishedAt: now, Error: "not started: " + cause.Error(), Output: []byte{}, Unstarted: true,
	}
	if errors.Is(cause, ErrCancelled) {
		p.State, p.Error = StateCancelled, ErrCancelled.Error()
	}
	return p
}

// start runs a job claimed (h) in a goroutine of its own, which sends its
// outcome to results. A job stopped before it started (cancelled, its
// lease lost) is not run at all: it is handed back unstarted.
func (r *Runner) start(mu *sync.Mutex, h *running, results chan<- JobFinishParams) {
	mu.Lock()
	h.started = time.Now()
	mu.Unlock()
	if h.ctx.Err() != nil {
		p := notStarted(h.job, context.Cause(h.ctx), r.Now())
		go func() { results <- p }()
		return
	}
	r.Log.Info("job started", jobAttrs(h.job)...)
	go func() {
		res := r.Exec.run(h.ctx, h.job, h.out)
		results <- Decide(h.job, res, r.Jitter())
	}()
}

// wait returns the next job's outcome, or ok false when the loop should
// look again: the store changed (when watch is set; changed says so), the
// next scheduled job is due, a cancel check or a commit of outcomes is
// due (soon, in real time), half a lease passed (leases of lost workers to
// take back), Tick passed, or ctx became done. busy says whether to wait,
// once ctx is done, for running jobs: not when jobs are held ahead, which
// go back at once.
func (r *Runner) wait(ctx context.Context, results <-chan JobFinishParams, watch, busy bool, nextRunAt, soon time.Time) (p JobFinishParams, ok, changed bool) {
	d := r.Lease / 2
	if r.Tick > 0 {
		d = min(d, r.Tick)
	}
	if !nextRunAt.IsZero() {
		d = max(0, min(d, nextRunAt.Sub(r.Now())))
	}
	if !soon.IsZero() {
		d = max(0, min(d, time.Until(soon)))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	var storeChanged <-chan struct{} // nil, never ready, unless watched
	if watch {
		// A goroutine only when watching: a busy runner passes here at
		// every job's end, and each goroutine started wakes an idle
		// thread of the runtime's.
		woke := make(chan struct{})
		waitCtx, stopWaiting := context.WithCancel(ctx)
		defer func() { stopWaiting(); <-woke }()
		go func() {
			defer close(woke)
			_ = r.Notifier.Wait(waitCtx, d)
		}()
		storeChanged = woke
	}
	select {
	case p := <-results:
		return p, true, false
	case <-storeChanged:
		return JobFinishParams{}, false, true
	case <-timer.C:
	case <-ctx.Done():
		// Stop claiming; running jobs end within Grace and report here.
		// Without any, the loop ends at once.
		if busy {
			select {
			case p := <-results:
				return p, true, false
			case <-timer.C:
			}
		}
	}
	return JobFinishParams{}, false, false
}

// fireSchedules enqueues the jobs of the schedule ticks that are due, sets
// next to when the next one is, and says whether it enqueued any. Several
// runners may fire at once: the store makes each tick one job.
func (r *Runner) fireSchedules(ctx context.Context, next *time.Time) bool {
	now := r.Now()
	res, err := r.Store.ScheduleFire(ctx, ScheduleFireParams{Now: now, Jitter: r.Jitter})
	if err != nil {
		r.Log.Warn("fire schedules", logError, err)
		*next = now.Add(time.Second)
		return false
	}
	*next = res.NextDueAt
	if next.IsZero() {
		// No schedule: a new one changes the store, which resets next.
		*next = now.Add(r.Lease / 2)
	}
	enqueued := false
	for _, f := range res.Fired {
		attrs := []any{logSchedule, f.Schedule, logTick, f.Tick}
		if f.Missed > 0 {
			attrs = append(attrs, "missed", f.Missed)
		}
		switch {
		case f.Skipped:
			r.Log.Info("schedule tick skipped: previous job not ended", append(attrs, logJob, f.Previous)...)
			continue
		case f.Previous != 0:
			attrs = append(attrs, "replaced", f.Previous)
		}
		enqueued = true
		r.Log.Info("schedule fired", append(attrs, logJob, f.JobID)...)
	}
	return enqueued
}

// stopCancelled stops the jobs in held that jobq cancel asked to stop. It
// reads rather than renews the leases, as a heartbeat would: a write would
// wake every other worker, which would write in turn.
func (r *Runner) stopCancelled(ctx context.Context, mu *sync.Mutex, held map[int64]*running) {
	mu.Lock()
	ids := make([]int64, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	mu.Unlock()
	if len(ids) == 0 {
		return // an empty filter would select every job
	}
	jobs, err := r.Store.JobList(ctx, JobFilter{IDs: ids, Now: r.Now()})
	if err != nil {
		r.Log.Warn("look for cancelled jobs", logError, err)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for _, j := range jobs {
		if h, ok := held[j.ID]; ok && j.CancelRequested && j.Run == h.job.Run {
			r.Log.Info("cancelled, stopping job", jobAttrs(h.job)...)
			h.cancel(ErrCancelled)
		}
	}
}

// jobAttrs are the attributes of every log line about one attempt of a job.
func jobAttrs(job *Job) []any {
	return []any{logJob, job.ID, logQueue, job.Queue, logAttempt, job.Run}
}

// deleteOld deletes final jobs past their retention, a batch at a time.
func (r *Runner) deleteOld(ctx context.Context) {
	now := r.Now()
	for _, rule := range []struct {
		states []State
		keep   time.Duration
	}{
		{[]State{StateSucceeded}, r.Retention.Succeeded},
		{[]State{StateDead, StateCancelled}, r.Retention.Dead},
	} {
		if rule.keep <= 0 {
			continue
		}
		for {
			n, err := r.Store.JobDelete(ctx, JobFilter{
				States: rule.states, Before: now.Add(-rule.keep), Limit: retentionBatch, Now: now,
			})
			if err != nil {
				r.Log.Warn("delete old jobs", logError, err)
				return
			}
			if n > 0 {
				r.Log.Info("deleted old jobs", "count", n, logState, string(rule.states[0]))
			}
			if n < retentionBatch {
				break
			}
		}
	}
}

// flushOutput writes the output of the jobs in held that printed
// something new since the last flush to the store, every
// outputFlushEvery, all in one write. It returns a function that stops
// it.
func (r *Runner) flushOutput(ctx context.Context, mu *sync.Mutex, held map[int64]*running) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(outputFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var outs []JobOutput
			var from []*running
			mu.Lock()
			for _, h := range held {
				if time.Since(h.started) < outputFlushAge {
					continue
				}
				if b, size, changed := h.out.Snapshot(h.flushed); changed {
					outs = append(outs, JobOutput{JobRef: JobRef{ID: h.job.ID, Run: h.job.Run}, Output: b, Size: size})
					from = append(from, h)
				}
			}
			mu.Unlock()
			if len(outs) == 0 {
				continue
			}
			if err := r.Store.JobOutput(ctx, JobOutputParams{Worker: r.Worker, Outputs: outs}); err != nil {
				r.Log.Warn("flush output", logError, err)
				continue
			}
			mu.Lock()
			for i, h := range from {
				h.flushed = outs[i].Size
			}
			mu.Unlock()
		}
	}()
	return func() { close(done); <-stopped }
}

// heartbeat renews the leases of the jobs in held every third of a lease,
// and stops a job whose lease was lost. It returns a function that stops it.
func (r *Runner) heartbeat(ctx context.Context, mu *sync.Mutex, held map[int64]*running) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(r.Lease / 3)
		defer t.Stop()
		renewed := r.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			mu.Lock()
			refs := make([]JobRef, 0, len(held))
			for _, h := range held {
				refs = append(refs, JobRef{ID: h.job.ID, Run: h.job.Run})
			}
			mu.Unlock()
			if len(refs) == 0 {
				continue
			}
			now := r.Now()
			res, err := r.Store.JobHeartbeat(ctx, JobHeartbeatParams{
				Worker: r.Worker, Jobs: refs, LeaseUntil: now.Add(r.Lease),
			})
			if err != nil {
				r.Log.Warn("renew leases", logError, err)
				r.observer().RenewFailed()
				if now.Sub(renewed) < r.Lease {
					continue
				}
				// Another worker may take the jobs back by now: stop them
				// rather than run them twice at once.
				mu.Lock()
				for _, ref := range refs {
					if h, ok := held[ref.ID]; ok {
						r.Log.Warn("lease not renewed, stopping job", jobAttrs(h.job)...)
						h.cancel(errLeaseNotRenewed)
					}
				}
				mu.Unlock()
				continue
			}
			renewed = now
			mu.Lock()
			for _, id := range res.Lost {
				if h, ok := held[id]; ok {
					r.Log.Warn("lease lost, stopping job", jobAttrs(h.job)...)
					h.cancel(errLeaseLost)
				}
			}
			for _, id := range res.Cancel {
				if h, ok := held[id]; ok {
					r.Log.Info("cancelled, stopping job", jobAttrs(h.job)...)
					h.cancel(ErrCancelled)
				}
			}
			mu.Unlock()
		}
	}()
	return func() { close(done); <-stopped }
}

func (r *Runner) logFinished(finish []JobFinishParams, ran map[int64]*Job, res *JobClaimResult, sum *Summary) {
	isLost := make(map[int64]bool, len(res.Lost))
	for _, id := range res.Lost {
		isLost[id] = true
	}
	for _, p := range finish {
		if slices.Contains(res.Cancelled, p.ID) {
			// Handed back, but the store ended it: jobq cancel asked.
			p.State, p.Error = StateCancelled, ErrCancelled.Error()
		}
		attrs := jobAttrs(ran[p.ID])
		if p.Unstarted {
			// No attempt: not a job finished, for the observer or the log.
			switch {
			case isLost[p.ID]:
			case p.State == StateCancelled:
				sum.Cancelled++
				r.Log.Info("job cancelled before it started", attrs...)
			default:
				sum.NotStarted++
			}
			continue
		}
		r.observer().Finished(ran[p.ID], p, isLost[p.ID])
		if isLost[p.ID] {
			r.Log.Warn("outcome not recorded: lease lost", attrs...)
			continue
		}
		switch p.State {
		case StateSucceeded:
			sum.Succeeded++
		case StateRetrying:
			sum.Retrying++
		case StateDead:
			sum.Dead++
		case StateCancelled:
			sum.Cancelled++
		case StatePending:
			sum.HandedBack++
		}
		level := slog.LevelInfo
		if p.State != StateSucceeded {
			level = slog.LevelWarn
		}
		attrs = append(attrs, logState, string(p.State))
		if p.Error != "" {
			attrs = append(attrs, logError, p.Error)
		}
		r.Log.Log(context.Background(), level, "job finished", attrs...)
	}
}
