package queue

import (
	"context"
	"errors"
	"iter"
	"time"
)

// Errors a Store translates its driver's errors into.
var (
	// ErrNotFound: no job has the ID asked for.
	ErrNotFound = errors.New("not found")
	// ErrBusy: the database stayed locked past the busy timeout; nothing
	// was written and the caller may try again.
	ErrBusy = errors.New("database is locked")
	// ErrCommitUnknown: the connection to the database was lost while a
	// write committed, so it may or may not have been made. Not ErrBusy:
	// trying again may do it twice; a worker's writes are fenced and it
	// does try again.
	ErrCommitUnknown = errors.New("the connection was lost while committing: the change may have been made; check with jobq list")
	// ErrNotRunning: the job is not running the attempt named.
	ErrNotRunning = errors.New("not running")
)

// Store keeps jobs. Every method that writes does so in one transaction:
// all of it is durable when it returns nil, none of it otherwise.
// internal/queue/queuetest holds the suite every implementation must pass.
type Store interface {
	// JobInsert inserts the jobs of a stream all or nothing and returns
	// their IDs in order. A job whose UniqueKey belongs to a job not yet
	// final (inserted before, or earlier in the same call) is not
	// inserted: that job's ID is returned. A store may read the stream
	// job by job inside its write transaction, so that a large batch is
	// never held whole (SQLite), or whole before it (PostgreSQL); either
	// way, the caller has its input in hand before it calls, never
	// waiting on a producer with the lock held. Jobs makes a stream of a
	// few jobs. An error the stream yields stops it: nothing is inserted,
	// and JobInsert returns that error as it is.
	JobInsert(ctx context.Context, jobs iter.Seq2[JobInsertParams, error]) ([]int64, error)
	// JobGet returns one job, or ErrNotFound.
	JobGet(ctx context.Context, id int64) (*Job, error)
	// JobList returns the jobs the filter selects, newest first, at most
	// its Limit; JobCount counts them all. JobGet and JobList return a job
	// whose row cannot be decoded with what could be read of it
	// (Job.Unreadable), not an error.
	JobList(ctx context.Context, filter JobFilter) ([]*Job, error)
	JobCount(ctx context.Context, filter JobFilter) (int, error)
	// JobClaim records the outcomes in params.Finish, then claims up to
	// params.Limit ready jobs, highest priority first, then earliest run_at,
	// then lowest ID; all in one transaction, so that a busy worker pays one
	// commit per job.
	JobClaim(ctx context.Context, params JobClaimParams) (*JobClaimResult, error)
	// JobHeartbeat extends the leases of running jobs held by a worker and
	// says which it no longer holds and which were asked to stop.
	JobHeartbeat(ctx context.Context, params JobHeartbeatParams) (*JobHeartbeatResult, error)
	// JobCancel cancels jobs: one not running ends cancelled at once, and
	// the jobs waiting for it with it; a running one is marked
	// (CancelRequested), for its worker to stop: a Runner reads the mark
	// when its Notifier tells it of a change, or at its next heartbeat. A
	// final job is left as it is. A job the call itself cancelled before
	// reaching it (waiting for a job named earlier, or named twice) is
	// reported as cancelled by the call, with the state it had before.
	JobCancel(ctx context.Context, params JobCancelParams) ([]JobCancelResult, error)
	// JobRetry gives the jobs the filter selects a fresh attempt budget:
	// back to pending (waiting while a dependency has not succeeded), their
	// history kept. Only retrying and final jobs are retried. A job one of
	// whose dependencies ended dead or cancelled is refused ("dependency 3
	// is dead") unless that dependency is retried in the same call; it then
	// waits for it. One whose dependency was deleted before it succeeded
	// is refused ("dependency 3 was deleted"); a dependency deleted once
	// it had succeeded no longer counts (nor is listed in DependsOn).
	// Jobs named by ID come back in the order named, whether
	// retried or not, and are retried in one transaction. A filter's jobs
	// come back in ID order and are retried in batches of at most a
	// thousand, each its own transaction, so that a large wave never holds
	// the write lock for long: an error leaves the batches before it
	// retried (and returns their results). With params.DryRun nothing is
	// written, and the results are what a real call would return.
	JobRetry(ctx context.Context, params JobRetryParams) ([]JobRetryResult, error)
	// JobDelete deletes up to the filter's Limit jobs it selects, never a
	// running one, oldest first, with their history, and returns how many
	// it deleted. The jobs waiting for a deleted job that had not
	// succeeded are cancelled ("dependency 3 was deleted"); a deleted job
	// that had succeeded leaves the DependsOn of the jobs it released.
	JobDelete(ctx context.Context, filter JobFilter) (int, error)
	// JobProgress records the progress a running job reports; ErrNotFound
	// or ErrNotRunning when it is not running that attempt.
	JobProgress(ctx context.Context, params JobProgressParams) error
	// QueueSet changes a queue's settings. A queue with no jobs whose
	// settings are all back to their defaults leaves no trace.
	QueueSet(ctx context.Context, params QueueSetParams) error
	// QueueStats sums up every queue that has jobs or settings, by name;
	// its QueueSettings are the queue's settings.
	QueueStats(ctx context.Context, params QueueStatsParams) ([]QueueStats, error)
	// EventList returns logged transitions in the order they happened.
	EventList(ctx context.Context, params EventListParams) ([]Event, error)
	// AttemptList returns the history of a job's attempts, oldest first
	// (numbered by run), or ErrNotFound when the job does not exist.
	AttemptList(ctx context.Context, jobID int64) ([]Attempt, error)
	// AttemptOutput returns one attempt of a job, its output so far
	// included while it runs, and the job's state, in one read: what
	// jobq logs -f looks at about every second. ErrNotFound when the job
	// does not exist; a nil Attempt when it has no such attempt (yet).
	AttemptOutput(ctx context.Context, params AttemptOutputParams) (*AttemptOutputResult, error)
	// JobOutput records the output so far of running attempts held by
	// params.Worker, in one write. Each is fenced by its run: an attempt
	// that ended, or that the worker no longer holds, keeps what it has.
	JobOutput(ctx context.Context, params JobOutputParams) error
	// ScheduleAdd adds schedules all or nothing and returns their IDs. A
	// name in use is ErrExists unless its params say Replace: then that
	// schedule takes the new settings and keeps its ID, its jobs,
	// whether it is paused, its health and its ActiveSince. A new one is
	// active since params.Now.
	ScheduleAdd(ctx context.Context, params []ScheduleAddParams) ([]int64, error)
	// ScheduleGet returns one schedule by name, with its last job and
	// health, or ErrNotFound.
	ScheduleGet(ctx context.Context, name string) (*Schedule, error)
	// ScheduleList returns every schedule by name, as ScheduleGet does.
	ScheduleList(ctx context.Context) ([]*Schedule, error)
	// ScheduleDelete deletes a schedule, or returns ErrNotFound. Its jobs
	// stay.
	ScheduleDelete(ctx context.Context, name string) error
	// ScheduleSet pauses or resumes a schedule; ErrNotFound when it does
	// not exist. Resuming a paused one makes it active since params.Now;
	// resuming one not paused keeps its ActiveSince.
	ScheduleSet(ctx context.Context, params ScheduleSetParams) error
	// ScheduleFire fires every schedule not paused whose DueAt has come:
	// in one transaction, it moves the schedule's NextAt from the value it
	// read to the next tick only if no one else has (compare and set),
	// and enqueues the tick's job, or skips it (logged as an event) or
	// cancels the previous job first, by the overlap policy. However many
	// workers fire at once, each tick makes one job.
	ScheduleFire(ctx context.Context, params ScheduleFireParams) (*ScheduleFireResult, error)
	// StoreStats sums up the store as a whole, for monitoring (jobq
	// metrics): the jobs that ever ended, per queue and final state, and
	// the database's size.
	StoreStats(ctx context.Context) (*StoreStats, error)
	// Ping checks that the database answers, as the store's other calls
	// reach it; an error says why not, in a line (a worker's /healthz).
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// Notifier tells a process that waits for work when a store may have
// changed. It is apart from Store as River keeps its listener apart from
// its executor: being told of changes is another concern than storing
// jobs, and another database does it another way (SQLite: the file's
// version and inotify; PostgreSQL: LISTEN/NOTIFY).
type Notifier interface {
	// Wait returns when another process may have changed the store, when
	// d has passed, or when ctx is done, whichever comes first; it is how
	// a worker and jobq wait notice new jobs without busy polling.
	Wait(ctx context.Context, d time.Duration) error
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
	After         []int64 // wait until these jobs succeeded (state waiting)
	CreatedAt     time.Time
	ScheduleID    int64     // the schedule that made it; 0: none
	ScheduleTick  time.Time // the tick it stands for; zero: jobq schedule run
}

// JobFilter selects jobs for JobList, JobCount, JobRetry and JobDelete:
// a job is selected when it passes every field set.
type JobFilter struct {
	IDs       []int64
	States    []State // as users see them (see Job.StateAt), at Now
	Queues    []string
	ExitCodes []int  // the exit code of its last attempt
	Error     string // contained in its last error
	// Since and Before bound a job's time: when its last attempt ended,
	// or, for a job that never ran to an end, when it was created.
	Since      time.Time // at or after
	Before     time.Time
	Limit      int   // 0: no limit
	ScheduleID int64 // made by this schedule
	Now        time.Time
}

// Retryable reports whether jobq retry may give a job in state s (as
// users see it) a fresh start: a job waiting for its backoff or one that
// ended, never one that runs or has yet to.
func (s State) Retryable() bool { return s == StateRetrying || s.Final() }

// JobRetryParams selects jobs to retry.
type JobRetryParams struct {
	Filter JobFilter
	DryRun bool // report what would change, write nothing
}

// JobRetryResult says what retrying one job did (or, in a dry run, would
// do).
type JobRetryResult struct {
	ID  int64
	Job *Job // as it was before; nil when no job has the ID
	// State is the job's new state (pending or waiting); empty when it was
	// not retried, and Reason says why.
	State  State
	Reason string
}

// JobProgressParams is what jobq progress reports from inside a job.
type JobProgressParams struct {
	ID int64
	// Attempt is the job's run the report comes from (JOBQ_ATTEMPT): a
	// report of any other run, a stale process of an earlier one after a
	// retry included, is refused.
	Attempt int
	Percent float64
	Message string
	At      time.Time
}

// QueueStatsParams asks for QueueStats at Now, counting the jobs that
// ended since RecentSince.
type QueueStatsParams struct {
	Now         time.Time
	RecentSince time.Time
}

// QueueStats sums up one queue.
type QueueStats struct {
	QueueSettings
	Counts      map[State]int // by state as users see it, at Now
	OldestReady time.Time     // run_at of the longest-ready job; zero when none
	// Jobs that ended succeeded or dead since RecentSince (RecentStates).
	RecentSucceeded, RecentDead int
}

// RecentStates are the ends QueueStats counts since RecentSince, in
// RecentSucceeded and RecentDead: a cancel is no outcome of a run.
var RecentStates = []State{StateSucceeded, StateDead}

// Event is one logged transition of a job.
type Event struct {
	ID       int64
	JobID    int64
	At       time.Time
	From, To State // From is empty for a new job
	Attempt  int   // the job's run, as Attempt.Attempt numbers it; 0 before its first
	Worker   string
	Error    string // the job's last error, for a transition to one of EventErrorStates
	// Schedule names the schedule whose tick was skipped because of this
	// job (From and To are then both the job's state); empty for a
	// transition.
	Schedule string
}

// EventErrorStates are the states whose transitions an event logs with
// the job's last error: an attempt that failed (retrying, dead), one
// handed back (pending: its worker stopped, or lost its lease) and a
// cancel (why: "cancelled", "dependency 3 ended dead"). A transition to
// any other state carries none, as a stale error would mislead.
var EventErrorStates = []State{StateRetrying, StateDead, StatePending, StateCancelled}

// EventListParams selects events: those after AfterID, of one job when
// JobID is set, only the last Last of them when Last is set.
type EventListParams struct {
	JobID   int64
	AfterID int64
	Last    int
}

// JobClaimParams asks for jobs to run. Paused queues are skipped and queue
// limits are honoured across all workers.
type JobClaimParams struct {
	Finish     []JobFinishParams // outcomes to record first
	Queues     []string          // empty: every queue
	Limit      int               // 0: claim nothing, only record Finish
	Worker     string
	Now        time.Time
	LeaseUntil time.Time
	// Expired, when set, decides the outcome of a running job whose lease
	// ended before Now (its worker is lost); the store records it, fenced,
	// before claiming. A job whose row the store cannot decode (bad data)
	// is not passed to it: the store ends it dead (Unreadable) and goes
	// on.
	Expired func(job *Job) JobFinishParams
	// Ahead is how many of Limit the worker claims ahead of its free
	// slots, to start as one frees (docs/cli.md, "Short jobs"). Past the
	// first Limit-Ahead jobs in claim order the claim stops at a job whose
	// claim would use its last attempt: held ahead, it would be handed
	// back unless a slot started it at once, and a worker lost while it
	// waited would leave it dead, never run. It waits for a claim that
	// fills a free slot.
	Ahead int
}

// JobClaimResult is what JobClaim did.
type JobClaimResult struct {
	Jobs    []*Job            // claimed, now running, in claim order
	Lost    []int64           // jobs of Finish that the worker no longer held: not recorded
	Expired []JobFinishParams // outcomes recorded for jobs whose lease had expired
	// Cancelled lists the jobs of Finish handed back (State pending,
	// Unstarted or not) that the store ended cancelled instead, their
	// cancel requested (JobFinishParams), for the worker to count and
	// log as cancelled.
	Cancelled []int64
	// Unreadable lists the outcomes the store recorded for jobs it
	// claimed whose row it could not decode (bad data another program
	// wrote): each ended dead in the claim (UnreadableClaimed), fenced by
	// its run, its dependents settled, and is not in Jobs; the readable
	// jobs of the claim are. The worker counts and logs them as dead.
	Unreadable []JobFinishParams
	// Unknown, when not nil, says that jobs the claim took could be
	// neither run nor ended (a store that ends unreadable rows after
	// its claim committed, and failed to): they stay running until their
	// lease expires. The jobs in Jobs are claimed and run as ever; drain
	// reports it as it does a claim whose commit it did not hear of.
	Unknown error
	// NextRunAt is when to look again, or zero: the earliest run_at after
	// Now of a job waiting in these queues for its start or its retry, or,
	// if sooner, when a rate limit that held back a ready job lets one
	// start. Set when fewer than Limit jobs were claimed.
	NextRunAt time.Time
}

// JobFinishParams records the end of an attempt, decided by Decide. It is
// fenced: it applies only while the job is still running under Run. A job
// handed back (State pending, Unstarted or not) whose cancel was
// requested (jobq cancel) ends cancelled instead, at FinishedAt, with the
// error "cancelled", and the jobs waiting for it are settled as for any
// cancel: a cancel accepted is never forgotten.
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
	Output     []byte // nil: keep the output last flushed (a lost worker's job)
	OutputSize int64
	// Unstarted says the job's command never started (a job claimed
	// ahead, handed back): the store undoes the claim rather than record
	// an attempt. State is pending, or cancelled when the worker stopped
	// it for jobq cancel (a pending one whose cancel was requested ends
	// cancelled too, as above). Pending means "back as it was": the job
	// goes back to retrying if its claim took it from there (its run_at,
	// the end of its backoff, kept), to pending otherwise (a job claimed
	// from scheduled, its time come, goes back to pending). It goes back
	// to the run, attempts and started_at it had before the claim
	// (started_at: that of the attempt before, or none), its attempt's
	// row is deleted, its run_at is kept (its place in the queue), its
	// exit code and signal are left as they were, its last_error is set
	// to Error, and finished_at to FinishedAt only when it ends
	// cancelled; Attempts, RunAt and the output fields are ignored.
	// Fenced and reported Lost as any outcome. The events show the claim
	// (pending or retrying to running, at the run claimed) and the
	// hand-back (running to the state it went back to, or cancelled, at
	// the run the job is back to, with Error as the event's error).
	Unstarted bool
}

// AttemptOutputParams names the attempt AttemptOutput reads.
type AttemptOutputParams struct {
	JobID   int64
	Attempt int // the attempt's number (the job's run); 0: the job's latest
	// KnownSize is the OutputSize the caller already has: while the
	// attempt's is still that, Output is left nil, so that a follower
	// that looks every second does not fetch an unchanged megabyte.
	KnownSize int64
}

// AttemptOutputResult is an attempt and the state of its job.
type AttemptOutputResult struct {
	JobState State    // as stored (a scheduled job due may still say scheduled)
	JobRun   int      // the job's latest attempt; 0 before its first
	Attempt  *Attempt // nil when the job has no such attempt
}

// JobOutputParams is the output so far of a worker's running attempts.
type JobOutputParams struct {
	Worker  string
	Outputs []JobOutput
}

// JobOutput is the output so far of one running attempt: its tail as
// Attempt.Output holds it, and how many bytes were written in all.
type JobOutput struct {
	JobRef
	Output []byte
	Size   int64
}

// JobHeartbeatParams extends the leases of a worker's running jobs.
type JobHeartbeatParams struct {
	Worker     string
	Jobs       []JobRef
	LeaseUntil time.Time
}

// JobHeartbeatResult is what a heartbeat found.
type JobHeartbeatResult struct {
	Lost   []int64 // no longer held by the worker: stop them, record nothing
	Cancel []int64 // asked to stop by jobq cancel
}

// JobCancelParams names the jobs to cancel.
type JobCancelParams struct {
	IDs []int64
	Now time.Time
}

// JobCancelResult says what cancelling one job did.
type JobCancelResult struct {
	ID    int64
	State State // the job's state before the call: final means nothing was done
	Found bool
}

// QueueSettings are what jobq queue pause|resume|limit set for a queue.
type QueueSettings struct {
	Name        string
	Paused      bool
	Concurrency int           // 0: no limit
	Rate        int           // jobs started per RatePeriod; 0: no limit
	RatePeriod  time.Duration //
}

// QueueSetParams changes some settings of a queue; nil fields keep theirs.
type QueueSetParams struct {
	Name        string
	Paused      *bool
	Concurrency *int
	Rate        *int
	RatePeriod  *time.Duration
}

// JobRef names one attempt of a job: the job and its Run.
type JobRef struct {
	ID  int64
	Run int
}

// ScheduleAddParams is one schedule to add (Plan has set its NextAt and
// DueAt); Replace changes the schedule of that name if there is one.
type ScheduleAddParams struct {
	Schedule Schedule
	Replace  bool
	Now      time.Time
}

// ScheduleSetParams pauses (Paused) or resumes a schedule; a resumed one
// fires next at NextAt, DueAt (the first tick after now: ticks missed while
// paused are not caught up).
type ScheduleSetParams struct {
	Name          string
	Paused        bool
	NextAt, DueAt time.Time
	Now           time.Time
}

// ScheduleFireParams fires the schedules due at Now; Jitter gives numbers
// in [0, 1) for the delays of the next ticks.
type ScheduleFireParams struct {
	Now    time.Time
	Jitter func() float64
}

// ScheduleFireResult is what ScheduleFire did, and when to fire again.
type ScheduleFireResult struct {
	Fired []ScheduleFired
	// NextDueAt is the earliest DueAt of a schedule not paused after the
	// firing; zero when there is none.
	NextDueAt time.Time
}

// ScheduleFired is one tick fired.
type ScheduleFired struct {
	Schedule string
	FirePlan
	JobID   int64 // the job enqueued; 0 when skipped
	Skipped bool  // the previous job (Previous) had not ended: nothing enqueued
	// Previous is the schedule's job that had not ended: the one that made
	// it skip, or the one cancelled by --overlap replace; 0 when none.
	Previous int64
}

// StoreStats sums up a store as a whole.
type StoreStats struct {
	// Ended counts the jobs that ever ended in each of FinalStates, by
	// queue: counted in the transaction that ends a job, never taken back,
	// so that a deleted job (retention, purge) stays counted and a job
	// retried and ended again counts again. A monitor's rate() of them
	// holds across retention.
	Ended []EndedCount
	// SizeBytes is the space the database takes (for SQLite its file and
	// WAL).
	SizeBytes int64
}

// EndedCount is how many jobs of Queue ever ended in State.
type EndedCount struct {
	Queue string
	State State
	N     int64
}
