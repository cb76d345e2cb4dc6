package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// errLeaseLost is the cause given to a job's context when its worker no
// longer holds it: another worker took it back after the lease expired.
var errLeaseLost = errors.New("lease lost: another worker took the job")

// Log keys, the same in every line a runner writes.
const (
	logJob     = "job"
	logQueue   = "queue"
	logState   = "state"
	logAttempt = "attempt"
	logError   = "error"
)

// Runner claims ready jobs from a Store and runs them with an Executor,
// Concurrency at a time.
type Runner struct {
	Store       Store
	Exec        *Executor
	Worker      string   // names this process in leases and history
	Queues      []string // empty: every queue
	Concurrency int
	Lease       time.Duration
	Grace       time.Duration // after ctx is done, how long running jobs may finish
	Now         func() time.Time
	Jitter      func() float64 // in [0, 1), varies backoff
	Log         *slog.Logger
}

// Summary counts what a Drain did, by the outcome of each attempt.
type Summary struct {
	Succeeded, Retrying, Dead, HandedBack int
}

type running struct {
	job    *Job
	cancel context.CancelCauseFunc
}

// Drain runs ready jobs until none is ready and none of its own is running.
// When ctx is done it claims nothing more, gives running jobs Grace to
// finish, then stops them and hands them back without using an attempt.
// When the store fails, it stops its running jobs and returns the error
// once they are gone.
func (r *Runner) Drain(ctx context.Context) (Summary, error) {
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
		}
	}()

	var mu sync.Mutex
	held := map[int64]*running{}
	stopBeat := r.heartbeat(storeCtx, &mu, held)
	defer stopBeat()

	results := make(chan JobFinishParams, r.Concurrency)
	var finish []JobFinishParams
	for {
		limit := r.Concurrency - len(held)
		if ctx.Err() != nil {
			limit = 0
		}
		if limit > 0 || len(finish) > 0 {
			now := r.Now()
			res, err := r.Store.JobClaim(storeCtx, JobClaimParams{
				Finish: finish, Queues: r.Queues, Limit: limit,
				Worker: r.Worker, Now: now, LeaseUntil: now.Add(r.Lease),
			})
			if errors.Is(err, ErrBusy) {
				r.Log.Warn("database busy, trying again", logError, err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if err != nil {
				// Leave no job running unwatched: stop them all and wait.
				stopJobs(err)
				for range len(held) {
					<-results
				}
				return sum, err
			}
			r.logFinished(finish, res.Lost, &sum)
			finish = nil
			mu.Lock()
			for _, job := range res.Jobs {
				jobCtx, cancel := context.WithCancelCause(jobsCtx)
				held[job.ID] = &running{job: job, cancel: cancel}
				r.Log.Info("job started", logJob, job.ID, logQueue, job.Queue, logAttempt, job.Attempts)
				go func() {
					res := r.Exec.Run(jobCtx, job)
					results <- Decide(job, res, r.Jitter())
				}()
			}
			mu.Unlock()
		}
		if len(held) == 0 {
			return sum, nil
		}
		finish = append(finish, <-results)
	gather:
		for {
			select {
			case p := <-results:
				finish = append(finish, p)
			default:
				break gather
			}
		}
		mu.Lock()
		for _, p := range finish {
			held[p.ID].cancel(nil)
			delete(held, p.ID)
		}
		mu.Unlock()
	}
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
				if now.Sub(renewed) >= r.Lease {
					// Another worker may take the jobs back by now: stop them
					// rather than run them twice at once.
					res = &JobHeartbeatResult{}
					for _, ref := range refs {
						res.Lost = append(res.Lost, ref.ID)
					}
				} else {
					continue
				}
			} else {
				renewed = now
			}
			mu.Lock()
			for _, id := range res.Lost {
				if h, ok := held[id]; ok {
					r.Log.Warn("lease lost, stopping job", logJob, id)
					h.cancel(errLeaseLost)
				}
			}
			for _, id := range res.Cancel {
				if h, ok := held[id]; ok {
					r.Log.Info("cancelled, stopping job", logJob, id)
					h.cancel(ErrCancelled)
				}
			}
			mu.Unlock()
		}
	}()
	return func() { close(done); <-stopped }
}

func (r *Runner) logFinished(finish []JobFinishParams, lost []int64, sum *Summary) {
	isLost := make(map[int64]bool, len(lost))
	for _, id := range lost {
		isLost[id] = true
	}
	for _, p := range finish {
		if isLost[p.ID] {
			r.Log.Warn("outcome not recorded: lease lost", logJob, p.ID)
			continue
		}
		switch p.State {
		case StateSucceeded:
			sum.Succeeded++
		case StateRetrying:
			sum.Retrying++
		case StateDead:
			sum.Dead++
		case StatePending:
			sum.HandedBack++
		}
		level := slog.LevelInfo
		if p.State != StateSucceeded {
			level = slog.LevelWarn
		}
		attrs := []any{logJob, p.ID, logState, string(p.State)}
		if p.Error != "" {
			attrs = append(attrs, logError, p.Error)
		}
		r.Log.Log(context.Background(), level, "job finished", attrs...)
	}
}
