package queue

import (
	"context"
	"errors"
	"time"
)

// Errors a Store translates its driver's errors into.
var (
	// ErrNotFound: no job has the ID asked for.
	ErrNotFound = errors.New("not found")
	// ErrBusy: the database stayed locked past the busy timeout; nothing
	// was written and the caller may try again.
	ErrBusy = errors.New("database is locked")
)

// Store keeps jobs. Every method that writes does so in one transaction:
// all of it is durable when it returns nil, none of it otherwise.
// internal/queue/queuetest holds the suite every implementation must pass.
type Store interface {
	// JobInsert inserts jobs all or nothing and returns their IDs in order.
	// A job whose UniqueKey belongs to a job not yet final (inserted before,
	// or earlier in the same call) is not inserted: that job's ID is returned.
	JobInsert(ctx context.Context, params []JobInsertParams) ([]int64, error)
	// JobGet returns one job, or ErrNotFound.
	JobGet(ctx context.Context, id int64) (*Job, error)
	// JobList returns jobs newest first.
	JobList(ctx context.Context, params JobListParams) ([]*Job, error)
	// JobClaim records the outcomes in params.Finish, then claims up to
	// params.Limit ready jobs, highest priority first, then earliest run_at,
	// then lowest ID; all in one transaction, so that a busy worker pays one
	// commit per job.
	JobClaim(ctx context.Context, params JobClaimParams) (*JobClaimResult, error)
	// JobHeartbeat extends the leases of running jobs held by a worker and
	// returns the IDs of those it no longer holds.
	JobHeartbeat(ctx context.Context, params JobHeartbeatParams) (lost []int64, err error)
	// AttemptList returns the history of a job's attempts, oldest first,
	// or ErrNotFound when the job does not exist.
	AttemptList(ctx context.Context, jobID int64) ([]Attempt, error)
	// Close releases the store.
	Close() error
}

// JobInsertParams is one job to insert.
type JobInsertParams struct {
	Queue         string
	State         State // pending or scheduled, see NewJobState
	Priority      int
	Command       string
	Argv          []string
	Dir           string
	Env           []string
	RunAt         time.Time
	MaxAttempts   int
	Timeout       time.Duration
	Backoff       time.Duration
	MaxBackoff    time.Duration
	PermanentExit []int
	UniqueKey     string
	CreatedAt     time.Time
}

// JobListParams filters JobList. Zero values do not filter.
type JobListParams struct {
	States []State // as users see them (see Job.StateAt), at Now
	Queues []string
	Limit  int
	Now    time.Time
}

// JobClaimParams asks for jobs to run.
type JobClaimParams struct {
	Finish     []JobFinishParams // outcomes to record first
	Queues     []string          // empty: every queue
	Limit      int               // 0: claim nothing, only record Finish
	Worker     string
	Now        time.Time
	LeaseUntil time.Time
}

// JobClaimResult is what JobClaim did.
type JobClaimResult struct {
	Jobs []*Job  // claimed, now running, in claim order
	Lost []int64 // jobs of Finish that the worker no longer held: not recorded
}

// JobFinishParams records the end of an attempt, decided by Decide. It is
// fenced: it applies only while the job is still running under Run.
type JobFinishParams struct {
	ID         int64
	Run        int
	State      State // succeeded, retrying, dead, or pending (handed back)
	Attempts   int   // the job's attempts after this outcome
	RunAt      time.Time
	FinishedAt time.Time
	ExitCode   *int
	Signal     string
	Error      string
	Output     []byte
}

// JobHeartbeatParams extends the leases of a worker's running jobs.
type JobHeartbeatParams struct {
	Worker     string
	Jobs       []JobRef
	LeaseUntil time.Time
}

// JobRef names one attempt of a job: the job and its Run.
type JobRef struct {
	ID  int64
	Run int
}
