// Package queue is jobq's domain: jobs and their states, the decisions taken
// when an attempt ends, backoff, the parsers of user input, the executor of
// commands and the runner that claims and runs jobs, schedules. It talks to
// storage only through the Store interface and imports nothing but the
// standard library and internal/cron, which keeps the cron parser apart.
package queue

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// State is where a job is in its life. The stored state says why a job is
// not running; see Job.StateAt for the state a user sees.
type State string

// The states of SPEC.md. Succeeded, Dead and Cancelled are final.
const (
	StatePending   State = "pending"
	StateScheduled State = "scheduled"
	StateWaiting   State = "waiting"
	StateRunning   State = "running"
	StateRetrying  State = "retrying"
	StateSucceeded State = "succeeded"
	StateDead      State = "dead"
	StateCancelled State = "cancelled"
)

// States lists every state in the order of a job's life.
var States = []State{
	StatePending, StateScheduled, StateWaiting, StateRunning,
	StateRetrying, StateSucceeded, StateDead, StateCancelled,
}

// ReadyStates are the stored states of the jobs a claim may take once
// their run_at has come. Stores build their queries (and SQLite its partial
// indexes) from this list.
var ReadyStates = []State{StatePending, StateScheduled, StateRetrying}

// TimedStates are the ready states whose jobs wait for their run_at: once
// it has come, users see them as pending (Job.StateAt).
var TimedStates = []State{StateScheduled, StateRetrying}

// FinalStates are the states a job never leaves by itself; only jobq
// retry takes a job out of one.
var FinalStates = []State{StateSucceeded, StateDead, StateCancelled}

// Final reports whether a job in state s will never run again by itself.
func (s State) Final() bool { return slices.Contains(FinalStates, s) }

// Ready reports whether a job stored in state s may be claimed once its
// run_at has come.
func (s State) Ready() bool { return slices.Contains(ReadyStates, s) }

// Valid reports whether s is one of States.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Job is one command to run, with everything needed to run it and the
// bookkeeping of its attempts. Zero times mean "unset".
type Job struct {
	ID            int64
	Queue         string
	State         State
	Priority      int
	Command       string   // for people: the shell command, or argv quoted
	Argv          []string // exactly what is executed
	Dir           string
	Env           []string // K=V, added to the worker's environment
	RunAt         time.Time
	MaxAttempts   int
	Attempts      int // attempts used; retry sets it back to 0
	Timeout       time.Duration
	Backoff       time.Duration
	MaxBackoff    time.Duration
	PermanentExit []int
	UniqueKey     string
	DependsOn     []int64 // --after: runs once all of these succeeded
	CreatedAt     time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
	ExitCode      *int
	Signal        string // that ended the last attempt
	LastError     string
	Progress      *Progress // reported by the current or last attempt
	// LastOutput is the last non-empty line of the output of the job's
	// latest attempt (see LastLine), often why it failed ("535 5.7.8
	// Authentication credentials invalid"). JobGet and JobList fill it;
	// claims do not.
	LastOutput string
	// ScheduleID is the schedule that made the job (0: none), ScheduleTick
	// the tick it stands for (zero for jobq schedule run).
	ScheduleID   int64
	ScheduleTick time.Time

	// Run counts every claim of the job, never reset: it numbers the
	// history (Attempt.Attempt) and fences the writes of the worker that
	// holds the job; Attempts, the budget used, is reset by a retry.
	Run             int
	Worker          string
	LeaseUntil      time.Time
	CancelRequested bool // jobq cancel asked the worker to stop it

	// Unreadable, set only by JobGet and JobList, says why the job's row
	// cannot be decoded (bad data another program wrote into it): then
	// only ID is sure to be set, and Queue, State and LastError are when
	// they could be read, for an operator to find the job and mend it by
	// SQL, or purge it. A claim never returns such a job
	// (JobClaimResult.Unreadable).
	Unreadable string
}

// StateAt is the state a user sees at now: a scheduled or retrying job
// whose time has come is pending (ready), as SPEC.md defines the states.
func (j *Job) StateAt(now time.Time) State {
	if slices.Contains(TimedStates, j.State) && !j.RunAt.After(now) {
		return StatePending
	}
	return j.State
}

// Progress is what a job reported with jobq progress.
type Progress struct {
	Percent float64
	Message string
	At      time.Time
}

// Attempt is the record of one run of a job.
type Attempt struct {
	JobID int64
	// Attempt numbers the attempt over the job's whole life, 1, 2, ...,
	// never reset by a retry: it is the job's Run when it was claimed, and
	// the number users see everywhere (show, logs --attempt, events,
	// JOBQ_ATTEMPT).
	Attempt    int
	Worker     string
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   *int
	Signal     string
	Error      string
	// Output is what the command wrote, its tail after a marker line when
	// it wrote more than the worker keeps (see SplitOutput); while the
	// attempt runs, the output its worker last flushed.
	Output []byte
	// OutputSize counts every byte the command wrote (or had written at
	// the last flush), those cut from Output included; 0 when unknown.
	OutputSize int64
}

// Running reports whether the attempt has not ended yet.
func (a *Attempt) Running() bool { return a.FinishedAt.IsZero() }

// Succeeded reports whether the attempt ended with its command exiting 0,
// neither stopped nor handed back (which leave an Error).
func (a *Attempt) Succeeded() bool {
	return !a.Running() && a.ExitCode != nil && *a.ExitCode == 0 && a.Error == ""
}

// LastOutputMax bounds Job.LastOutput, in bytes.
const LastOutputMax = 200

// LastLine is the last line of output that is not blank, without its
// surrounding white space, cut to its first LastOutputMax bytes (at a
// character's start).
func LastLine(output []byte) string {
	text := strings.TrimRight(string(output), " \t\r\n")
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimSpace(text)
	if len(text) > LastOutputMax {
		cut := LastOutputMax
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	return text
}

// ShellArgv is the argv that runs command through the shell.
func ShellArgv(command string) []string { return []string{"/bin/sh", "-c", command} }

// QuoteArgv renders argv as one line a shell user can read and paste.
func QuoteArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
		if i == 0 && parts[0] == a && strings.Contains(a, "=") {
			// A shell reads a first word NAME=VALUE as an assignment.
			parts[0] = "'" + a + "'"
		}
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
