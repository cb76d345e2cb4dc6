package queue

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	const huge = time.Duration(math.MaxInt64)
	tests := []struct {
		name      string
		base, max time.Duration
		n         int
		jitter    float64
		want      time.Duration
	}{
		{"first retry is base", 10 * time.Second, time.Hour, 1, 0.5, 10 * time.Second},
		{"second doubles", 10 * time.Second, time.Hour, 2, 0.5, 20 * time.Second},
		{"third doubles again", 10 * time.Second, time.Hour, 3, 0.5, 40 * time.Second},
		{"capped at max", 10 * time.Second, time.Hour, 10, 0.5, time.Hour},
		{"exactly max", 15 * time.Minute, time.Hour, 3, 0.5, time.Hour},
		{"max below base", 10 * time.Second, 5 * time.Second, 1, 0.5, 5 * time.Second},
		{"zero base", 0, time.Hour, 5, 0.5, 0},
		{"n zero behaves as first", 10 * time.Second, time.Hour, 0, 0.5, 10 * time.Second},
		{"jitter low end", 40 * time.Second, time.Hour, 1, 0, 30 * time.Second},
		{"jitter high end", 40 * time.Second, time.Hour, 1, 1, 50 * time.Second},
		{"jitter applies after cap", 10 * time.Second, 40 * time.Second, 10, 0, 30 * time.Second},
		{"large n stays at max", time.Second, time.Hour, 1_000_000, 0.5, time.Hour},
		{"no max still grows", time.Second, 0, 4, 0.5, 8 * time.Second},
		{"huge max does not overflow", time.Second, huge, 200, 0.5, huge},
		{"huge max with high jitter saturates", time.Second, huge, 200, 0.999, huge},
		{"no max and large n saturate", time.Second, 0, 200, 0.999, huge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Backoff(tt.base, tt.max, tt.n, tt.jitter)
			if got != tt.want {
				t.Errorf("Backoff(%v, %v, %d, %v) = %v, want %v", tt.base, tt.max, tt.n, tt.jitter, got, tt.want)
			}
		})
	}
}

// TestBackoffBounds checks the ±25% around min(max, base·2^(n−1)) and that
// the delay never shrinks as n grows, over a spread of inputs.
func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	for _, base := range []time.Duration{time.Millisecond, time.Second, 10 * time.Second, 7 * time.Minute} {
		for _, max := range []time.Duration{time.Second, time.Hour, 24 * time.Hour} {
			prev := time.Duration(0)
			for n := 1; n <= 80; n++ {
				mid := base
				for i := 1; i < n && mid < max; i++ {
					mid *= 2
				}
				mid = min(mid, max)
				lo := Backoff(base, max, n, 0)
				hi := Backoff(base, max, n, 0.9999999)
				if lo != mid*3/4 {
					t.Errorf("Backoff(%v, %v, %d, 0) = %v, want %v", base, max, n, lo, mid*3/4)
				}
				if hi > mid*5/4 || hi < mid {
					t.Errorf("Backoff(%v, %v, %d, ~1) = %v, want in [%v, %v]", base, max, n, hi, mid, mid*5/4)
				}
				if got := Backoff(base, max, n, 0.5); got < prev {
					t.Errorf("Backoff(%v, %v, %d) = %v, less than for n-1 (%v)", base, max, n, got, prev)
				} else {
					prev = got
				}
			}
		}
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	finished := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	code := func(n int) *int { return &n }
	job := func(attempts, maxAttempts int, permanent ...int) *Job {
		return &Job{
			ID: 7, Run: 4, Queue: "default", State: StateRunning,
			Attempts: attempts, MaxAttempts: maxAttempts,
			Backoff: 10 * time.Second, MaxBackoff: time.Hour, PermanentExit: permanent,
		}
	}
	tests := []struct {
		name         string
		job          *Job
		res          Result
		wantState    State
		wantAttempts int
		wantRunAt    time.Time
		wantError    string
	}{
		{
			name:         "success",
			job:          job(1, 3),
			res:          Result{ExitCode: code(0), Output: []byte("ok\n"), FinishedAt: finished},
			wantState:    StateSucceeded,
			wantAttempts: 1,
		},
		{
			name:         "first failure retries after base backoff",
			job:          job(1, 3),
			res:          Result{ExitCode: code(1), Error: "exit status 1", FinishedAt: finished},
			wantState:    StateRetrying,
			wantAttempts: 1,
			wantRunAt:    finished.Add(10 * time.Second),
			wantError:    "exit status 1",
		},
		{
			name:         "second failure doubles the backoff",
			job:          job(2, 3),
			res:          Result{ExitCode: code(1), Error: "exit status 1", FinishedAt: finished},
			wantState:    StateRetrying,
			wantAttempts: 2,
			wantRunAt:    finished.Add(20 * time.Second),
			wantError:    "exit status 1",
		},
		{
			name:         "killed by a signal retries",
			job:          job(1, 3),
			res:          Result{Signal: "SIGKILL", Error: "killed by SIGKILL", FinishedAt: finished},
			wantState:    StateRetrying,
			wantAttempts: 1,
			wantRunAt:    finished.Add(10 * time.Second),
			wantError:    "killed by SIGKILL",
		},
		{
			name:         "exit 0 with an error is a failure",
			job:          job(1, 3),
			res:          Result{ExitCode: code(0), Error: "timed out after 1s", FinishedAt: finished},
			wantState:    StateRetrying,
			wantAttempts: 1,
			wantRunAt:    finished.Add(10 * time.Second),
			wantError:    "timed out after 1s",
		},
		{
			name:         "last attempt goes dead",
			job:          job(3, 3),
			res:          Result{ExitCode: code(1), Error: "exit status 1", FinishedAt: finished},
			wantState:    StateDead,
			wantAttempts: 3,
			wantError:    "exit status 1",
		},
		{
			name:         "only attempt goes dead",
			job:          job(1, 1),
			res:          Result{Error: "start: no such file", FinishedAt: finished},
			wantState:    StateDead,
			wantAttempts: 1,
			wantError:    "start: no such file",
		},
		{
			name:         "permanent exit code goes dead at once",
			job:          job(1, 3, 3, 64),
			res:          Result{ExitCode: code(64), Error: "exit status 64", FinishedAt: finished},
			wantState:    StateDead,
			wantAttempts: 1,
			wantError:    "exit status 64 (permanent)",
		},
		{
			name:         "other exit code is not permanent",
			job:          job(1, 3, 3, 64),
			res:          Result{ExitCode: code(2), Error: "exit status 2", FinishedAt: finished},
			wantState:    StateRetrying,
			wantAttempts: 1,
			wantRunAt:    finished.Add(10 * time.Second),
			wantError:    "exit status 2",
		},
		{
			name:         "interrupted is handed back without using the attempt",
			job:          job(2, 3),
			res:          Result{Signal: "SIGTERM", Error: ErrShutdown.Error(), Interrupted: true, FinishedAt: finished},
			wantState:    StatePending,
			wantAttempts: 1,
			wantRunAt:    finished,
			wantError:    ErrShutdown.Error(),
		},
		{
			name:         "interrupted on the last attempt is still handed back",
			job:          job(3, 3),
			res:          Result{ExitCode: code(1), Error: ErrShutdown.Error(), Interrupted: true, FinishedAt: finished},
			wantState:    StatePending,
			wantAttempts: 2,
			wantRunAt:    finished,
			wantError:    ErrShutdown.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Decide(tt.job, tt.res, 0.5)
			if p.ID != tt.job.ID || p.Run != tt.job.Run {
				t.Errorf("ID, Run = %d, %d; want %d, %d", p.ID, p.Run, tt.job.ID, tt.job.Run)
			}
			if p.State != tt.wantState {
				t.Errorf("State = %s, want %s", p.State, tt.wantState)
			}
			if p.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", p.Attempts, tt.wantAttempts)
			}
			if !p.RunAt.Equal(tt.wantRunAt) {
				t.Errorf("RunAt = %v, want %v", p.RunAt, tt.wantRunAt)
			}
			if p.Error != tt.wantError {
				t.Errorf("Error = %q, want %q", p.Error, tt.wantError)
			}
			if !p.FinishedAt.Equal(finished) {
				t.Errorf("FinishedAt = %v, want %v", p.FinishedAt, finished)
			}
			if p.ExitCode != tt.res.ExitCode || p.Signal != tt.res.Signal || string(p.Output) != string(tt.res.Output) {
				t.Errorf("outcome not carried over: exit %v signal %q output %q", p.ExitCode, p.Signal, p.Output)
			}
		})
	}
}

func TestNewJobState(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		runAt time.Time
		want  State
	}{
		{time.Time{}, StatePending},
		{now.Add(-time.Hour), StatePending},
		{now, StatePending},
		{now.Add(time.Millisecond), StateScheduled},
	} {
		if got := NewJobState(tt.runAt, now); got != tt.want {
			t.Errorf("NewJobState(%v) = %s, want %s", tt.runAt, got, tt.want)
		}
	}
}

func TestJobStateAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	for _, tt := range []struct {
		state State
		runAt time.Time
		want  State
	}{
		{StatePending, past, StatePending},
		{StatePending, future, StatePending},
		{StateScheduled, future, StateScheduled},
		{StateScheduled, now, StatePending},
		{StateScheduled, past, StatePending},
		{StateRetrying, future, StateRetrying},
		{StateRetrying, past, StatePending},
		{StateWaiting, past, StateWaiting},
		{StateRunning, past, StateRunning},
		{StateSucceeded, past, StateSucceeded},
		{StateDead, past, StateDead},
		{StateCancelled, future, StateCancelled},
	} {
		j := &Job{State: tt.state, RunAt: tt.runAt}
		if got := j.StateAt(now); got != tt.want {
			t.Errorf("Job{State: %s, RunAt: %v}.StateAt(now) = %s, want %s", tt.state, tt.runAt.Sub(now), got, tt.want)
		}
	}
}

func TestStateFinalAndValid(t *testing.T) {
	t.Parallel()
	final := map[State]bool{StateSucceeded: true, StateDead: true, StateCancelled: true}
	for _, s := range States {
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
		if s.Final() != final[s] {
			t.Errorf("%s.Final() = %v, want %v", s, s.Final(), final[s])
		}
	}
	for _, s := range []State{"", "Pending", "done", "pending "} {
		if s.Valid() {
			t.Errorf("State(%q).Valid() = true", s)
		}
	}
}

func TestResultSucceeded(t *testing.T) {
	t.Parallel()
	zero, one := 0, 1
	for _, tt := range []struct {
		name string
		r    Result
		want bool
	}{
		{"exit 0", Result{ExitCode: &zero}, true},
		{"exit 1", Result{ExitCode: &one, Error: "exit status 1"}, false},
		{"no exit code", Result{Signal: "SIGKILL"}, false},
		{"exit 0 with error", Result{ExitCode: &zero, Error: "timed out"}, false},
		{"exit 0 interrupted", Result{ExitCode: &zero, Interrupted: true}, false},
	} {
		if got := tt.r.Succeeded(); got != tt.want {
			t.Errorf("%s: Succeeded() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
