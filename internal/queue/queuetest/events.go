package queuetest

import (
	"slices"
	"testing"

	"github.com/jobq/jobq/internal/queue"
)

// The log of transitions.
var eventsTests = []suiteTest{
	{"Events", testEvents},
	{"EventIDsNeverReused", testEventIDsNeverReused},
}

// The log of transitions has every change of a job's state, in order,
// with the attempt and worker of each.
func testEvents(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("e"))
	other := insertOne(t, s, newJob("other"))
	j := claimOne(t, s, t0, "e")
	finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"})
	succeed(t, s, t0, "e")
	events, err := s.EventList(t.Context(), queue.EventListParams{JobID: id})
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		from, to queue.State
		attempt  int
		worker   string
		err      string
	}
	want := []step{
		{"", queue.StatePending, 0, "", ""},
		{queue.StatePending, queue.StateRunning, 1, worker, ""},
		{queue.StateRunning, queue.StateRetrying, 1, "", "exit status 1"},
		{queue.StateRetrying, queue.StateRunning, 2, worker, ""},
		{queue.StateRunning, queue.StateSucceeded, 2, "", ""},
	}
	var got []step
	for i, e := range events {
		got = append(got, step{e.From, e.To, e.Attempt, e.Worker, e.Error})
		if e.JobID != id || i > 0 && e.ID <= events[i-1].ID {
			t.Errorf("event %+v: of job %d, or out of order", e, e.JobID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events of job %d:\n%+v\nwant\n%+v", id, got, want)
	}
	all, err := s.EventList(t.Context(), queue.EventListParams{})
	if err != nil || len(all) != 6 {
		t.Fatalf("all events: %d, %v; want 6", len(all), err)
	}
	last, err := s.EventList(t.Context(), queue.EventListParams{Last: 2})
	if err != nil || len(last) != 2 || last[0].ID != all[4].ID || last[1].ID != all[5].ID {
		t.Errorf("last 2 events: %+v, %v; want the last two of %d, in order", last, err, len(all))
	}
	since, err := s.EventList(t.Context(), queue.EventListParams{AfterID: all[1].ID})
	if err != nil || len(since) != 4 || since[0].ID != all[2].ID {
		t.Errorf("events after %d: %+v, %v; want the 4 after it", all[1].ID, since, err)
	}
	if none, err := s.EventList(t.Context(), queue.EventListParams{JobID: other, AfterID: all[5].ID}); err != nil || len(none) != 0 {
		t.Errorf("events of job %d after the last: %+v, %v; want none", other, none, err)
	}
	// A cancellation says why, down a chain of dependencies too.
	child := insertOne(t, s, after(newJob("child"), other))
	cancel(t, s, t0, other)
	for _, id := range []int64{other, child} {
		events, err := s.EventList(t.Context(), queue.EventListParams{JobID: id, Last: 1})
		if err != nil || len(events) != 1 || events[0].To != queue.StateCancelled || events[0].Error == "" {
			t.Errorf("last event of cancelled job %d: %+v, %v; want cancelled, saying why", id, events, err)
		}
	}
}

// Event IDs only increase, also past the events of deleted jobs: events -f
// follows the log by ID.
func testEventIDsNeverReused(t *testing.T, s queue.Store) {
	insert(t, s, newJob("a"), newJob("b"))
	all, err := s.EventList(t.Context(), queue.EventListParams{})
	if err != nil || len(all) != 2 {
		t.Fatalf("events: %+v, %v", all, err)
	}
	if n, err := s.JobDelete(t.Context(), queue.JobFilter{Queues: []string{"b"}, Now: t0}); err != nil || n != 1 {
		t.Fatalf("JobDelete = %d, %v", n, err)
	}
	insertOne(t, s, newJob("c"))
	after, err := s.EventList(t.Context(), queue.EventListParams{AfterID: all[1].ID})
	if err != nil || len(after) != 1 {
		t.Errorf("events after %d, once the newest job was deleted and another inserted: %+v, %v; want the new job's", all[1].ID, after, err)
	}
}
