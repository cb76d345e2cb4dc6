// The shapes of --json output: jobs, attempts, events.

package cmd

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// jobJSON is a job as --json prints it: snake_case, times in RFC 3339 UTC,
// null where unset.
type jobJSON struct {
	ID            int64             `json:"id"`
	Queue         string            `json:"queue"`
	State         queue.State       `json:"state"`
	Priority      int               `json:"priority"`
	Command       string            `json:"command"`
	Argv          []string          `json:"argv"`
	Dir           string            `json:"dir"`
	Env           map[string]string `json:"env"`
	Attempts      int               `json:"attempts"`
	MaxAttempts   int               `json:"max_attempts"`
	TimeoutS      *float64          `json:"timeout_s"`
	BackoffS      float64           `json:"backoff_s"`
	MaxBackoffS   float64           `json:"max_backoff_s"`
	PermanentExit []int             `json:"permanent_exit"`
	UniqueKey     *string           `json:"unique_key"`
	DependsOn     []int64           `json:"depends_on"`
	RunAt         *time.Time        `json:"run_at"`
	CreatedAt     *time.Time        `json:"created_at"`
	StartedAt     *time.Time        `json:"started_at"`
	FinishedAt    *time.Time        `json:"finished_at"`
	ExitCode      *int              `json:"exit_code"`
	Signal        *string           `json:"signal"`
	LastError     *string           `json:"last_error"`
	LastOutput    *string           `json:"last_output"`
	Worker        *string           `json:"worker"`
	Progress      *progressJSON     `json:"progress"`
	ScheduleID    *int64            `json:"schedule_id"`   // the schedule that made it
	ScheduleTick  *time.Time        `json:"schedule_tick"` // the tick it stands for
	// Unreadable says why the job's row cannot be read (queue.Job), only
	// then: its other fields may then be wrong.
	Unreadable *string `json:"unreadable,omitempty"`
}

// jobHistoryJSON is a job as show --json prints it: with the history of
// its attempts, an empty array when it never ran.
type jobHistoryJSON struct {
	jobJSON
	History []attemptJSON `json:"history"`
}

type progressJSON struct {
	Percent   float64    `json:"percent"`
	Message   *string    `json:"message"`
	UpdatedAt *time.Time `json:"updated_at"`
}

type attemptJSON struct {
	Attempt    int        `json:"attempt"`
	Worker     string     `json:"worker"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	ExitCode   *int       `json:"exit_code"`
	Signal     *string    `json:"signal"`
	Error      *string    `json:"error"`
	Output     string     `json:"output"`
}

func newJobJSON(j *queue.Job, now time.Time) jobJSON {
	out := jobJSON{
		ID: j.ID, Queue: j.Queue, State: j.StateAt(now), Priority: j.Priority,
		Command: j.Command, Argv: j.Argv, Dir: j.Dir, Attempts: j.Attempts,
		MaxAttempts: j.MaxAttempts, BackoffS: j.Backoff.Seconds(), MaxBackoffS: j.MaxBackoff.Seconds(),
		PermanentExit: j.PermanentExit, UniqueKey: optString(j.UniqueKey),
		RunAt: optTime(j.RunAt), CreatedAt: optTime(j.CreatedAt), StartedAt: optTime(j.StartedAt),
		FinishedAt: optTime(j.FinishedAt), ExitCode: j.ExitCode, Signal: optString(j.Signal),
		LastError: optString(j.LastError), LastOutput: optString(j.LastOutput), Worker: optString(j.Worker),
		Unreadable: optString(j.Unreadable),
	}
	if j.ScheduleID != 0 {
		out.ScheduleID, out.ScheduleTick = &j.ScheduleID, optTime(j.ScheduleTick)
	}
	if p := j.Progress; p != nil {
		out.Progress = &progressJSON{Percent: p.Percent, Message: optString(p.Message), UpdatedAt: optTime(p.At)}
	}
	if out.PermanentExit == nil {
		out.PermanentExit = []int{}
	}
	if out.DependsOn = j.DependsOn; out.DependsOn == nil {
		out.DependsOn = []int64{}
	}
	if j.Timeout > 0 {
		s := j.Timeout.Seconds()
		out.TimeoutS = &s
	}
	if len(j.Env) > 0 {
		out.Env = make(map[string]string, len(j.Env))
		for _, kv := range j.Env {
			k, v, _ := strings.Cut(kv, "=")
			out.Env[k] = v
		}
	}
	return out
}

func newAttemptJSON(a queue.Attempt) attemptJSON {
	return attemptJSON{
		Attempt: a.Attempt, Worker: a.Worker,
		StartedAt: optTime(a.StartedAt), FinishedAt: optTime(a.FinishedAt),
		ExitCode: a.ExitCode, Signal: optString(a.Signal), Error: optString(a.Error),
		Output: string(a.Output),
	}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// eventJSON is one transition as events --json prints it.
type eventJSON struct {
	ID        int64       `json:"id"`
	JobID     int64       `json:"job_id"`
	At        *time.Time  `json:"at"`
	FromState *string     `json:"from_state"`
	ToState   queue.State `json:"to_state"`
	Attempt   int         `json:"attempt"`
	Worker    *string     `json:"worker"`
	Error     *string     `json:"error"`
	Schedule  *string     `json:"schedule"` // a tick of it skipped for this job
}

// scheduleJSON is a schedule as schedule list --json prints it.
type scheduleJSON struct {
	Name                string       `json:"name"`
	Description         *string      `json:"description"`
	Cron                string       `json:"cron"`
	Zone                *string      `json:"zone"` // null: local time
	Overlap             string       `json:"overlap"`
	JitterS             float64      `json:"jitter_s"`
	Paused              bool         `json:"paused"`
	NextAt              *time.Time   `json:"next_at"` // the next tick; null when paused
	DueAt               *time.Time   `json:"due_at"`  // when it fires: next_at plus jitter
	LastRunAt           *time.Time   `json:"last_run_at"`
	LastJobID           *int64       `json:"last_job_id"`
	LastJobState        *queue.State `json:"last_job_state"`
	LastSuccessAt       *time.Time   `json:"last_success_at"`
	ConsecutiveFailures int          `json:"consecutive_failures"`
	CreatedAt           *time.Time   `json:"created_at"`
	Job                 scheduleJob  `json:"job"`
}

// scheduleJob is the job a schedule enqueues, with the keys of a job.
type scheduleJob struct {
	Queue         string            `json:"queue"`
	Priority      int               `json:"priority"`
	Command       string            `json:"command"`
	Argv          []string          `json:"argv"`
	Dir           string            `json:"dir"`
	Env           map[string]string `json:"env"`
	MaxAttempts   int               `json:"max_attempts"`
	TimeoutS      *float64          `json:"timeout_s"`
	BackoffS      float64           `json:"backoff_s"`
	MaxBackoffS   float64           `json:"max_backoff_s"`
	PermanentExit []int             `json:"permanent_exit"`
}

// scheduleJobsJSON is a schedule as schedule show --json prints it, with
// its recent jobs, newest first.
type scheduleJobsJSON struct {
	scheduleJSON
	Jobs []jobJSON `json:"jobs"`
}

func newScheduleJSON(sc *queue.Schedule, now time.Time) scheduleJSON {
	// The job's keys are those of a job: the shape and its nulls are
	// newJobJSON's.
	j := newJobJSON(&queue.Job{Queue: sc.Job.Queue, Priority: sc.Job.Priority, Command: sc.Job.Command,
		Argv: sc.Job.Argv, Dir: sc.Job.Dir, Env: sc.Job.Env, MaxAttempts: sc.Job.MaxAttempts,
		Timeout: sc.Job.Timeout, Backoff: sc.Job.Backoff, MaxBackoff: sc.Job.MaxBackoff,
		PermanentExit: sc.Job.PermanentExit}, now)
	out := scheduleJSON{
		Name: sc.Name, Description: optString(sc.Description), Cron: sc.Expr, Zone: optString(sc.Zone),
		Overlap: string(sc.Overlap), JitterS: sc.Jitter.Seconds(), Paused: sc.Paused,
		LastSuccessAt: optTime(sc.LastSuccess), ConsecutiveFailures: sc.Failures, CreatedAt: optTime(sc.CreatedAt),
		Job: scheduleJob{Queue: j.Queue, Priority: j.Priority, Command: j.Command, Argv: j.Argv, Dir: j.Dir,
			Env: j.Env, MaxAttempts: j.MaxAttempts, TimeoutS: j.TimeoutS, BackoffS: j.BackoffS,
			MaxBackoffS: j.MaxBackoffS, PermanentExit: j.PermanentExit},
	}
	if !sc.Paused {
		out.NextAt, out.DueAt = optTime(sc.NextAt), optTime(sc.DueAt)
	}
	if last := sc.LastJob; last != nil {
		st := last.StateAt(now)
		out.LastRunAt, out.LastJobID, out.LastJobState = optTime(last.CreatedAt), &last.ID, &st
	}
	return out
}
