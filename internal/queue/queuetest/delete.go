package queuetest

import (
	"errors"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Deleting jobs: never a running one, never an ID given twice.
var deleteTests = []suiteTest{
	{"Delete", testDelete},
	{"DeleteNeverRunning", testDeleteNeverRunning},
	{"DeleteNeverReusesIDs", testDeleteNeverReusesIDs},
}

func testDelete(t *testing.T, s queue.Store) {
	// Each job in a queue of its own, ended at a time of its own: later
	// IDs end earlier, so that oldest means finished_at, not ID.
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	end := func(name, q string, st queue.State, when time.Time) int64 {
		id := insertOne(t, s, newJob(q+"."+name))
		if st == queue.StateCancelled {
			cancel(t, s, when, id)
			return id
		}
		j := claimOne(t, s, t0, q+"."+name)
		finish(t, s, when, queue.JobFinishParams{ID: id, Run: j.Run, State: st, Attempts: 1, FinishedAt: when, ExitCode: intp(0)})
		return id
	}
	ids := map[string]int64{}
	ids["s-kept"] = end("s-kept", "a", queue.StateSucceeded, at(5*time.Second)) // at Before: kept
	ids["s3"] = end("s3", "a", queue.StateSucceeded, at(3*time.Second))
	ids["s2"] = end("s2", "a", queue.StateSucceeded, at(2*time.Second))
	ids["s1"] = end("s1", "a", queue.StateSucceeded, at(1*time.Second))
	ids["b-s1"] = end("b-s1", "b", queue.StateSucceeded, at(1*time.Second))
	ids["dead"] = end("dead", "a", queue.StateDead, at(1*time.Second))
	ids["cancelled"] = end("cancelled", "a", queue.StateCancelled, at(1*time.Second))
	ids["pending"] = insertOne(t, s, newJob("a.pending"))
	ids["running"] = insertOne(t, s, newJob("a.running"))
	claimOne(t, s, t0, "a.running")
	queuesOf := func(names ...string) []string {
		var qs []string
		for _, n := range names {
			qs = append(qs, get(t, s, ids[n]).Queue)
		}
		return qs
	}
	aQueues := queuesOf("s-kept", "s3", "s2", "s1", "dead", "cancelled", "pending", "running")
	before := map[string]*queue.Job{}
	for name, id := range ids {
		before[name] = get(t, s, id)
	}
	deleted := map[string]bool{}

	steps := []struct {
		p    queue.JobFilter
		gone []string
	}{
		{queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Queues: aQueues, Before: at(5 * time.Second), Limit: 2}, []string{"s1", "s2"}},
		{queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Queues: aQueues, Before: at(5 * time.Second), Limit: 10}, []string{"s3"}},
		{queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Queues: aQueues, Before: at(5 * time.Second), Limit: 10}, nil},
		{queue.JobFilter{States: []queue.State{queue.StateDead}, Before: at(time.Second), Limit: 10}, nil},
		{queue.JobFilter{States: []queue.State{queue.StateDead, queue.StateCancelled}, Before: at(time.Hour), Limit: 10}, []string{"dead", "cancelled"}},
		{queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Before: at(5 * time.Second), Limit: 10}, []string{"b-s1"}},
	}
	for _, st := range steps {
		n, err := s.JobDelete(t.Context(), st.p)
		if err != nil || n != len(st.gone) {
			t.Errorf("JobDelete(%v before t0+%v, limit %d) = %d, %v; want %d (%v)", st.p.States, st.p.Before.Sub(t0), st.p.Limit, n, err, len(st.gone), st.gone)
		}
		for _, name := range st.gone {
			deleted[name] = true
		}
		for name, id := range ids {
			_, err := s.JobGet(t.Context(), id)
			_, aerr := s.AttemptList(t.Context(), id)
			switch {
			case deleted[name] && (!errors.Is(err, queue.ErrNotFound) || !errors.Is(aerr, queue.ErrNotFound)):
				t.Errorf("after JobDelete(%v, limit %d): the %s job: JobGet %v, AttemptList %v; want ErrNotFound", st.p.States, st.p.Limit, name, err, aerr)
			case !deleted[name] && err != nil:
				t.Errorf("after JobDelete(%v, limit %d): the %s job: %v; want it kept", st.p.States, st.p.Limit, name, err)
			case !deleted[name]:
				checkJob(t, get(t, s, id), before[name])
			}
		}
	}
	if as := attempts(t, s, ids["running"]); len(as) != 1 {
		t.Errorf("the running job has %d attempts, want 1", len(as))
	}
}

// JobDelete never deletes a running job, whatever the filter; a job in
// another state goes when the filter names its state (as users see it),
// or names no state at all.
func testDeleteNeverRunning(t *testing.T, s queue.Store) {
	ids := stateFixture(t, s)
	for _, step := range []struct {
		states []queue.State
		gone   []string
	}{
		{[]queue.State{queue.StateRunning}, nil},
		{[]queue.State{queue.StateRunning, queue.StateScheduled}, []string{"scheduled"}},
		{[]queue.State{queue.StatePending}, []string{"pending", "scheduled-due", "retrying-due"}},
		{nil, []string{"retrying", "succeeded", "dead"}},
	} {
		n, err := s.JobDelete(t.Context(), queue.JobFilter{States: step.states, Now: t0})
		if err != nil || n != len(step.gone) {
			t.Errorf("JobDelete of states %v = %d, %v; want %d", step.states, n, err, len(step.gone))
		}
		for _, name := range step.gone {
			if _, err := s.JobGet(t.Context(), ids[name]); !errors.Is(err, queue.ErrNotFound) {
				t.Errorf("after JobDelete of states %v, the %s job: JobGet = %v; want ErrNotFound", step.states, name, err)
			}
		}
	}
	if j := get(t, s, ids["running"]); j.State != queue.StateRunning {
		t.Errorf("the running job is %s", j.State)
	}
}

// IDs only increase, also past deleted jobs: a job uses its ID as an
// idempotency key, and scripts, logs and jobq wait may still name a
// deleted one.
func testDeleteNeverReusesIDs(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("default"), newJob("default"))
	for range ids {
		succeed(t, s, t0, "default")
	}
	n, err := s.JobDelete(t.Context(), queue.JobFilter{States: []queue.State{queue.StateSucceeded}, Before: t0.Add(time.Second), Limit: 10})
	if err != nil || n != 2 {
		t.Fatalf("JobDelete = %d, %v; want 2", n, err)
	}
	next := insert(t, s, newJob("default"), newJob("default"))
	if next[0] <= ids[1] || next[1] <= next[0] {
		t.Errorf("IDs after deleting %v: %v; want larger ones", ids, next)
	}
	for _, id := range next {
		if as := attempts(t, s, id); len(as) != 0 {
			t.Errorf("new job %d has the history of a deleted job: %+v", id, as)
		}
	}
}
