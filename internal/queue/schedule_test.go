package queue

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleFire(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name       string
		expr, zone string
		nextAt     string // the stored tick
		now        string // the injected clock
		tick, next string
		missed     int
	}{
		{"on time", "0 * * * *", "UTC", "2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", 0},
		{"after downtime, one job for the latest tick", "0 * * * *", "UTC", "2026-01-01T10:00:00Z", "2026-01-01T15:30:00Z", "2026-01-01T15:00:00Z", "2026-01-01T16:00:00Z", 5},
		{"@every keeps its grid after downtime", "@every 10m", "UTC", "2026-01-01T10:00:00Z", "2026-01-01T10:25:00Z", "2026-01-01T10:20:00Z", "2026-01-01T10:30:00Z", 2},
		{"spring forward: 02:30 runs at 03:00, then the next day", "30 2 * * *", "America/New_York", "2026-03-08T08:00:00Z" /* 03:00 EDT */, "2026-03-08T08:00:05Z", "2026-03-08T08:00:00Z", "2026-03-09T06:30:00Z", 0},
		{"fall back: 01:30 once, next is the next day", "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z" /* 01:30 EDT */, "2026-11-01T06:45:00Z" /* 01:45 EST */, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Schedule{Expr: tt.expr, Zone: tt.zone, NextAt: at(tt.nextAt)}
			p, err := s.Fire(at(tt.now), 0)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Tick.Equal(at(tt.tick)) || !p.Next.Equal(at(tt.next)) || p.Missed != tt.missed || !p.Due.Equal(p.Next) {
				t.Errorf("Fire = tick %v next %v due %v missed %d; want tick %v next %v missed %d",
					p.Tick.In(ny), p.Next.In(ny), p.Due, p.Missed, at(tt.tick).In(ny), at(tt.next).In(ny), tt.missed)
			}
		})
	}
}

func TestScheduleJitterBounds(t *testing.T) {
	t.Parallel()
	s := &Schedule{Expr: "0 * * * *", Zone: "UTC", Jitter: 10 * time.Minute,
		NextAt: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	now := s.NextAt.Add(time.Second)
	for _, r := range []float64{0, 0.25, 0.5, 0.999999999} {
		p, err := s.Fire(now, r)
		if err != nil {
			t.Fatal(err)
		}
		delay := p.Due.Sub(p.Next)
		if delay < 0 || delay > s.Jitter {
			t.Errorf("jitter %v: delay %v outside [0, %v]", r, delay, s.Jitter)
		}
		if want := time.Duration(r * float64(s.Jitter)); delay != want {
			t.Errorf("jitter %v: delay %v, want %v", r, delay, want)
		}
	}
	if err := s.Plan(now, 0.5); err != nil || s.DueAt.Sub(s.NextAt) != 5*time.Minute {
		t.Errorf("Plan: due %v after next, %v; want 5m", s.DueAt.Sub(s.NextAt), err)
	}
}

func TestScheduleValidate(t *testing.T) {
	t.Parallel()
	good := Schedule{Name: "n", Expr: "@every 1m", Overlap: OverlapSkip, Job: JobInsertParams{
		Queue: "default", Command: "true", Argv: ShellArgv("true"), Dir: "/", MaxAttempts: 1}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for name, change := range map[string]func(*Schedule){
		"bad name":                       func(s *Schedule) { s.Name = "a b" },
		"bad cron":                       func(s *Schedule) { s.Expr = "61 * * * *" },
		"unknown zone":                   func(s *Schedule) { s.Zone = "Mars/Olympus" },
		"Local by name":                  func(s *Schedule) { s.Zone = "Local" },
		"jitter >= period":               func(s *Schedule) { s.Jitter = time.Minute },
		"jitter = a minute of * * * * *": func(s *Schedule) { s.Expr, s.Jitter = "* * * * *", time.Minute },
		"jitter > a day of @daily":       func(s *Schedule) { s.Expr, s.Jitter = "@daily", 3*24*time.Hour },
		"jitter = the shortest gap":      func(s *Schedule) { s.Expr, s.Jitter = "0 0 * * 1,2", 24*time.Hour },
		"jitter > February":              func(s *Schedule) { s.Expr, s.Jitter = "0 0 1 * *", 29*24*time.Hour },
		"jitter of */15 in an hour":      func(s *Schedule) { s.Expr, s.Jitter = "*/15 2 * * *", 15*time.Minute },
		"bad overlap":                    func(s *Schedule) { s.Overlap = "sometimes" },
		"empty command":                  func(s *Schedule) { s.Job.Command, s.Job.Argv = "", nil },
	} {
		s := good
		change(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
	}
	for name, change := range map[string]func(*Schedule){
		"jitter under a minute":   func(s *Schedule) { s.Expr, s.Jitter = "* * * * *", 59*time.Second },
		"jitter under the gap":    func(s *Schedule) { s.Expr, s.Jitter = "0 0 * * 1,2", 23*time.Hour },
		"jitter under a February": func(s *Schedule) { s.Expr, s.Jitter = "0 0 1 * *", 27*24*time.Hour },
		"@daily in New York":      func(s *Schedule) { s.Expr, s.Zone, s.Jitter = "@daily", "America/New_York", 23*time.Hour },
	} {
		s := good
		change(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
		}
	}
}

// TestParseTimingEvery: @every takes jobq's durations, d and w included
// (SPEC "Times"), and still whole seconds, at least one.
func TestParseTimingEvery(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for expr, want := range map[string]time.Duration{
		"@every 1d": 24 * time.Hour, "@every 1w": 7 * 24 * time.Hour, "@every 1d12h": 36 * time.Hour,
		"@every 90s": 90 * time.Second, " @every\t2h ": 2 * time.Hour,
	} {
		tm, err := ParseTiming(expr, "UTC")
		if err != nil {
			t.Errorf("ParseTiming(%q): %v", expr, err)
			continue
		}
		if got := tm.Next(from).Sub(from); got != want {
			t.Errorf("%q: period %v, want %v", expr, got, want)
		}
	}
	for _, expr := range []string{"@every", "@every 0s", "@every 1500ms", "@every 1x", "@every -1h", "@everyday"} {
		if _, err := ParseTiming(expr, "UTC"); err == nil {
			t.Errorf("ParseTiming(%q) succeeded, want an error", expr)
		}
	}
}

func TestOverlapAction(t *testing.T) {
	t.Parallel()
	running := &Job{State: StateRunning}
	done := &Job{State: StateDead}
	for _, tt := range []struct {
		o    Overlap
		last *Job
		want fireAction
	}{
		{OverlapSkip, nil, fireEnqueue}, {OverlapSkip, done, fireEnqueue}, {OverlapSkip, running, fireSkip},
		{OverlapAllow, running, fireEnqueue}, {OverlapReplace, running, fireReplace}, {OverlapReplace, done, fireEnqueue},
	} {
		if got := tt.o.action(tt.last); got != tt.want {
			t.Errorf("%s.action(%v) = %v, want %v", tt.o, tt.last, got, tt.want)
		}
	}
}

func TestFireTick(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	tick := time.Date(2031, 2, 3, 4, 5, 0, 0, time.FixedZone("X", 3600))
	plan := FirePlan{Tick: tick, Missed: 2, Next: tick.Add(time.Minute), Due: tick.Add(time.Minute)}
	prev := func(st State) *Job { return &Job{ID: 41, State: st, Run: 3} }
	skipped := func(st State) *Event {
		return &Event{JobID: 41, At: now, From: st, To: st, Attempt: 3, Schedule: "nightly",
			Error: "tick 2031-02-03T03:05:00Z of schedule nightly skipped: job 41 is " + string(st) + " (--overlap skip)"}
	}
	type want struct {
		skip     *Event
		cancel   int64
		previous int64
		job      bool
	}
	enqueue := want{job: true}
	tests := []struct {
		name string
		o    Overlap
		last *Job
		want want
	}{
		{"skip, first job", OverlapSkip, nil, enqueue},
		{"skip, previous ended", OverlapSkip, prev(StateSucceeded), enqueue},
		{"skip, previous dead", OverlapSkip, prev(StateDead), enqueue},
		{"skip, previous cancelled", OverlapSkip, prev(StateCancelled), enqueue},
		{"skip, previous running", OverlapSkip, prev(StateRunning), want{skip: skipped(StateRunning), previous: 41}},
		{"skip, previous pending", OverlapSkip, prev(StatePending), want{skip: skipped(StatePending), previous: 41}},
		{"skip, previous retrying", OverlapSkip, prev(StateRetrying), want{skip: skipped(StateRetrying), previous: 41}},
		{"skip, previous waiting", OverlapSkip, prev(StateWaiting), want{skip: skipped(StateWaiting), previous: 41}},
		{"allow, previous running", OverlapAllow, prev(StateRunning), enqueue},
		{"allow, first job", OverlapAllow, nil, enqueue},
		{"replace, previous running", OverlapReplace, prev(StateRunning), want{cancel: 41, previous: 41, job: true}},
		{"replace, previous retrying", OverlapReplace, prev(StateRetrying), want{cancel: 41, previous: 41, job: true}},
		{"replace, previous ended", OverlapReplace, prev(StateSucceeded), enqueue},
		{"replace, first job", OverlapReplace, nil, enqueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := &Schedule{ID: 7, Name: "nightly", Overlap: tt.o, Job: JobInsertParams{
				Queue: "q", Command: "backup", MaxAttempts: 3, UniqueKey: "never", After: []int64{1},
			}}
			got := sc.FireTick(plan, tt.last, now)
			wantFired := ScheduleFired{Schedule: "nightly", FirePlan: plan, Skipped: tt.want.skip != nil, Previous: tt.want.previous}
			if got.Fired != wantFired {
				t.Errorf("Fired = %+v, want %+v", got.Fired, wantFired)
			}
			if !reflect.DeepEqual(got.Skip, tt.want.skip) {
				t.Errorf("Skip = %+v, want %+v", got.Skip, tt.want.skip)
			}
			if got.Cancel != tt.want.cancel {
				t.Errorf("Cancel = %d, want %d", got.Cancel, tt.want.cancel)
			}
			if !tt.want.job {
				if got.Job != nil {
					t.Errorf("Job = %+v, want none", got.Job)
				}
				return
			}
			want := sc.Job
			want.State, want.RunAt, want.CreatedAt = StatePending, now, now
			want.ScheduleID, want.ScheduleTick = 7, tick
			want.UniqueKey, want.After = "", nil
			if got.Job == nil || !reflect.DeepEqual(*got.Job, want) {
				t.Errorf("Job = %+v, want %+v", got.Job, want)
			}
		})
	}
}

// Period is the longest time between two ticks: a weekday schedule's is
// its weekend, a monthly one's a 31-day month, @every's its duration.
func TestTimingPeriod(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want time.Duration
	}{
		{"* * * * *", time.Minute},
		{"*/15 2 * * *", 24*time.Hour - 45*time.Minute},
		{"@daily", 24 * time.Hour},
		{"0 9 * * 1-5", 3 * 24 * time.Hour},
		{"0 0 1 * *", 31 * 24 * time.Hour},
		{"@every 90s", 90 * time.Second},
		// The night, the weekend, February 29th: a cycle's longest gap,
		// not the first few ticks'.
		{"*/5 9-17 * * *", 15*time.Hour + 5*time.Minute},
		{"0 * * * 1-5", 49 * time.Hour},
		{"0 9-17 * * 1-5", 64 * time.Hour},
		{"0 0 1 */3 *", 92 * 24 * time.Hour},
		{"@yearly", 366 * 24 * time.Hour},
		{"0 0 29 2 *", (3*365 + 366) * 24 * time.Hour},
	} {
		timing, err := ParseTiming(tt.expr, "UTC")
		if err != nil {
			t.Fatal(err)
		}
		if got := timing.Period(); got != tt.want {
			t.Errorf("Period of %q = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
