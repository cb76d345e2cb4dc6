package sqlite

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

type event struct {
	from, to string
	attempt  int
	worker   string
	err      string
}

func events(t *testing.T, s *Store, jobID int64) []event {
	t.Helper()
	rows, err := s.reader.Query(`SELECT coalesce(from_state, ''), to_state, attempt,
		coalesce(worker, ''), coalesce(error, '') FROM events WHERE job_id = ? ORDER BY id`, jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.from, &e.to, &e.attempt, &e.worker, &e.err); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestEvents(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, queue.Jobs(testJob("default")))
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	one, zero := 1, 0
	j := claimOne(t, s, t0)
	finishOne(t, s, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: &one, Error: "exit status 1"})
	j = claimOne(t, s, t0)
	// A heartbeat and a lost finish are no transitions.
	if _, err := s.JobHeartbeat(ctx, queue.JobHeartbeatParams{Worker: "w1", LeaseUntil: t0.Add(time.Hour), Jobs: []queue.JobRef{{ID: id, Run: j.Run}}}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: []queue.JobFinishParams{{ID: id, Run: 1, State: queue.StateDead}}}); err != nil || len(res.Lost) != 1 {
		t.Fatalf("stale finish: %v, lost %v", err, res.Lost)
	}
	finishOne(t, s, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateSucceeded, Attempts: 2, FinishedAt: t0, ExitCode: &zero})

	want := []event{
		{"", "pending", 0, "", ""},
		{"pending", "running", 1, "w1", ""},
		{"running", "retrying", 1, "", "exit status 1"},
		{"retrying", "running", 2, "w1", ""},
		{"running", "succeeded", 2, "", ""},
	}
	if got := events(t, s, id); !slices.Equal(got, want) {
		t.Errorf("events =\n%v\nwant\n%v", got, want)
	}
}

// TestEventsOfWork: the events table gets one row per transition, also for
// those the dependency triggers make and for leases taken back, each
// logged after the transition that caused it.
func TestEventsOfWork(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	insert := func(p queue.JobInsertParams, after ...int64) int64 {
		t.Helper()
		p.After = after
		ids, err := s.JobInsert(ctx, queue.Jobs(p))
		if err != nil {
			t.Fatal(err)
		}
		return ids[0]
	}
	cancel := func(id int64) {
		t.Helper()
		if _, err := s.JobCancel(ctx, queue.JobCancelParams{IDs: []int64{id}, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}

	// a succeeds: b and c go on; d, after b, is cancelled with it.
	a := insert(testJob("a"))
	b := insert(testJob("b"), a)
	c := insert(testJob("c"), a)
	d := insert(testJob("d"), b)
	ja := claimOne(t, s, t0, "a")
	finishOne(t, s, queue.JobFinishParams{ID: a, Run: ja.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0})
	cancel(b)

	// e's worker is lost on its last attempt: e goes dead, f with it.
	pe := testJob("e")
	pe.MaxAttempts = 2
	e := insert(pe)
	f := insert(testJob("f"), e)
	claimOne(t, s, t0, "e")
	expire := func(now time.Time) {
		t.Helper()
		if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: now, Worker: "w2", Expired: func(j *queue.Job) queue.JobFinishParams {
			return queue.LeaseExpired(j, now, 0.5)
		}}); err != nil {
			t.Fatal(err)
		}
	}
	expire(t0.Add(time.Minute))
	claimOne(t, s, t0.Add(2*time.Minute), "e")
	expire(t0.Add(3 * time.Minute))

	// g comes after a job already dead: waiting, then cancelled at once.
	g := insert(testJob("g"), e)

	// h is cancelled while running: no event until its worker stops it.
	h := insert(testJob("h"))
	jh := claimOne(t, s, t0, "h")
	cancel(h)
	if _, err := s.JobHeartbeat(ctx, queue.JobHeartbeatParams{Worker: "w1", LeaseUntil: t0.Add(time.Hour), Jobs: []queue.JobRef{{ID: h, Run: jh.Run}}}); err != nil {
		t.Fatal(err)
	}
	finishOne(t, s, queue.Decide(jh, queue.Result{Cancelled: true, Error: queue.ErrCancelled.Error(), FinishedAt: t0}, 0.5))

	lost := "worker lost: lease expired"
	depFailed := func(id int64, state string) string { return fmt.Sprintf("dependency %d ended %s", id, state) }
	want := map[int64][]event{
		a: {{"", "pending", 0, "", ""}, {"pending", "running", 1, "w1", ""}, {"running", "succeeded", 1, "", ""}},
		b: {{"", "waiting", 0, "", ""}, {"waiting", "pending", 0, "", ""}, {"pending", "cancelled", 0, "", "cancelled"}},
		c: {{"", "waiting", 0, "", ""}, {"waiting", "pending", 0, "", ""}},
		d: {{"", "waiting", 0, "", ""}, {"waiting", "cancelled", 0, "", depFailed(b, "cancelled")}},
		e: {{"", "pending", 0, "", ""}, {"pending", "running", 1, "w1", ""}, {"running", "retrying", 1, "", lost},
			{"retrying", "running", 2, "w1", ""}, {"running", "dead", 2, "", lost}},
		f: {{"", "waiting", 0, "", ""}, {"waiting", "cancelled", 0, "", depFailed(e, "dead")}},
		g: {{"", "waiting", 0, "", ""}, {"waiting", "cancelled", 0, "", depFailed(e, "dead")}},
		h: {{"", "pending", 0, "", ""}, {"pending", "running", 1, "w1", ""}, {"running", "cancelled", 1, "", queue.ErrCancelled.Error()}},
	}
	for _, id := range []int64{a, b, c, d, e, f, g, h} {
		if got := events(t, s, id); !slices.Equal(got, want[id]) {
			t.Errorf("events of job %d =\n%v\nwant\n%v", id, got, want[id])
		}
	}

	// The log reads in order: a cause before its effects.
	for _, tt := range []struct {
		cause, effect eventRef
	}{
		{eventRef{a, "succeeded"}, eventRef{b, "pending"}},
		{eventRef{a, "succeeded"}, eventRef{c, "pending"}},
		{eventRef{b, "cancelled"}, eventRef{d, "cancelled"}},
		{eventRef{e, "dead"}, eventRef{f, "cancelled"}},
	} {
		ce, ee := eventID(t, s, tt.cause), eventID(t, s, tt.effect)
		if ce >= ee {
			t.Errorf("job %d %s is event %d, logged before its cause, job %d %s (event %d)",
				tt.effect.job, tt.effect.to, ee, tt.cause.job, tt.cause.to, ce)
		}
	}
}

type eventRef struct {
	job int64
	to  string
}

func eventID(t *testing.T, s *Store, e eventRef) int64 {
	t.Helper()
	var id int64
	if err := s.reader.QueryRow("SELECT id FROM events WHERE job_id = ? AND to_state = ?", e.job, e.to).Scan(&id); err != nil {
		t.Fatalf("event of job %d to %s: %v", e.job, e.to, err)
	}
	return id
}
