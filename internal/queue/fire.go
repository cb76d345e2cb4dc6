package queue

import (
	"fmt"
	"time"
)

// TickFiring is what firing one tick of a schedule writes, as FireTick
// decides it; a store writes it in the transaction that moved the
// schedule on.
type TickFiring struct {
	// Fired is what to report; the store sets its JobID once it has
	// inserted Job.
	Fired ScheduleFired
	// Skip, when the tick is skipped (--overlap skip), is the event that
	// says so, logged against the previous job; nothing is enqueued.
	Skip *Event
	// Cancel is the previous job to cancel before Job is enqueued
	// (--overlap replace); 0 when none.
	Cancel int64
	// Job is the tick's job; nil when the tick is skipped.
	Job *JobInsertParams
}

// FireTick decides what firing s's tick, planned in plan, does at now by
// its overlap policy. last is the schedule's newest job (its ID, State and
// Run), nil when it has none.
func (s *Schedule) FireTick(plan FirePlan, last *Job, now time.Time) TickFiring {
	f := TickFiring{Fired: ScheduleFired{Schedule: s.Name, FirePlan: plan}}
	switch s.Overlap.action(last) {
	case fireSkip:
		f.Fired.Skipped, f.Fired.Previous = true, last.ID
		f.Skip = &Event{JobID: last.ID, At: now, From: last.State, To: last.State, Attempt: last.Run,
			Error: fmt.Sprintf("tick %s of schedule %s skipped: job %d is %s (--overlap skip)",
				plan.Tick.UTC().Format(time.RFC3339), s.Name, last.ID, last.State),
			Schedule: s.Name}
		return f
	case fireReplace:
		f.Fired.Previous, f.Cancel = last.ID, last.ID
	}
	job := s.NewJob(plan.Tick, now)
	f.Job = &job
	return f
}
