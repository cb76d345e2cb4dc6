package queue

import "time"

// Observer is told what a Runner does, for a worker's own metrics (jobq
// work --metrics-addr). Its methods are called from the runner's
// goroutines, one at a time or not, and must neither block nor fail.
type Observer interface {
	// Claimed: one JobClaim call (outcomes recorded, jobs claimed, one
	// transaction) took d, whether it succeeded or not.
	Claimed(d time.Duration)
	// Finished: an attempt of job ended with p; lost says that its
	// outcome was not recorded, the worker no longer holding the job.
	Finished(job *Job, p JobFinishParams, lost bool)
	// RenewFailed: a heartbeat could not renew the worker's leases.
	RenewFailed()
}

// noObserver observes nothing: a Runner's Observer when none is given.
type noObserver struct{}

func (noObserver) Claimed(time.Duration)                {}
func (noObserver) Finished(*Job, JobFinishParams, bool) {}
func (noObserver) RenewFailed()                         {}

func (r *Runner) observer() Observer {
	if r.Observer == nil {
		return noObserver{}
	}
	return r.Observer
}
