package queue

import (
	"math"
	"slices"
	"time"
)

// Result is how one attempt ended, as the executor saw it.
type Result struct {
	ExitCode    *int   // nil when the command did not exit by itself
	Signal      string // e.g. "SIGKILL" when killed by a signal
	Error       string // why the attempt failed, for people; empty on success
	Output      []byte // the tail of stdout and stderr together
	OutputSize  int64  // every byte written, those cut from Output included
	Interrupted bool   // stopped because the worker is shutting down
	Cancelled   bool   // stopped because jobq cancel asked
	FinishedAt  time.Time
}

// Succeeded reports whether the command exited 0.
func (r Result) Succeeded() bool {
	return r.ExitCode != nil && *r.ExitCode == 0 && r.Error == "" && !r.Interrupted && !r.Cancelled
}

// NewJobState is the state of a job inserted at now to run at runAt.
func NewJobState(runAt, now time.Time) State {
	if runAt.After(now) {
		return StateScheduled
	}
	return StatePending
}

// Backoff is the delay before retry n (n >= 1): min(max, base·2^(n−1)),
// varied by ±25%. jitter is a number in [0, 1): 0.5 leaves it as it is.
// max <= 0 means no cap. The delay saturates at the longest Duration
// rather than overflow, however large n or max.
func Backoff(base, max time.Duration, n int, jitter float64) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && (max <= 0 || d < max); i++ {
		if d > math.MaxInt64/2 {
			d = math.MaxInt64
			break
		}
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	f := float64(d) * (0.75 + 0.5*jitter)
	if f >= math.MaxInt64 { // float64(MaxInt64) is 2^63: out of range
		return math.MaxInt64
	}
	return time.Duration(f)
}

// Decide turns the result of job's current attempt into what the store
// records: succeeded; cancelled when jobq cancel stopped it; dead when
// attempts are used up or the exit code is permanent; handed back as
// pending, with the attempt not counted, when the worker was shutting down;
// retrying after its backoff otherwise.
func Decide(job *Job, r Result, jitter float64) JobFinishParams {
	p := JobFinishParams{
		ID:         job.ID,
		Run:        job.Run,
		Attempts:   job.Attempts,
		FinishedAt: r.FinishedAt,
		ExitCode:   r.ExitCode,
		Signal:     r.Signal,
		Error:      r.Error,
		Output:     r.Output,
		OutputSize: r.OutputSize,
	}
	switch {
	case r.Interrupted:
		p.State = StatePending
		p.Attempts = job.Attempts - 1
		p.RunAt = r.FinishedAt
	case r.Cancelled:
		p.State = StateCancelled
	case r.Succeeded():
		p.State = StateSucceeded
	case r.ExitCode != nil && slices.Contains(job.PermanentExit, *r.ExitCode):
		p.State = StateDead
		p.Error = r.Error + " (permanent)"
	case job.Attempts >= job.MaxAttempts:
		p.State = StateDead
	default:
		p.State = StateRetrying
		p.RunAt = r.FinishedAt.Add(Backoff(job.Backoff, job.MaxBackoff, job.Attempts, jitter))
	}
	return p
}

// LeaseExpired decides the outcome of a running job whose worker was lost
// (its lease expired): a failed attempt, retried or dead as Decide says,
// or cancelled when jobq cancel had asked for it.
func LeaseExpired(job *Job, now time.Time, jitter float64) JobFinishParams {
	r := Result{Error: "worker lost: lease expired", FinishedAt: now}
	if job.CancelRequested {
		r.Cancelled, r.Error = true, ErrCancelled.Error()
	}
	return Decide(job, r, jitter)
}

// Unreadable decides the outcome of a running job whose lease expired
// and whose row the store could not decode (another program wrote bad
// data into it; err says what): no worker can run it, so it ends dead
// with err as its last error, for an operator to see in jobq list
// --state dead, mend and retry; taking it back as LeaseExpired does
// would hand it to a claim that cannot read it either. ref is its
// attempt, attempts the attempts it has used.
func Unreadable(ref JobRef, attempts int, now time.Time, err error) JobFinishParams {
	return unreadable(ref, attempts, now, "worker lost: lease expired; its job cannot be read: "+err.Error())
}

// UnreadableClaimed decides the outcome of a job just claimed whose row
// the store could not decode, as Unreadable does: it ends dead in the
// claim's own transaction, its attempt used, never run
// (JobClaimResult.Unreadable).
func UnreadableClaimed(ref JobRef, attempts int, now time.Time, err error) JobFinishParams {
	return unreadable(ref, attempts, now, "claimed, never run: its job cannot be read: "+err.Error())
}

func unreadable(ref JobRef, attempts int, now time.Time, why string) JobFinishParams {
	return JobFinishParams{ID: ref.ID, Run: ref.Run, State: StateDead, Attempts: attempts, FinishedAt: now, Error: why}
}
