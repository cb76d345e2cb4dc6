package queue

import (
	"reflect"
	"testing"
	"time"
)

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
