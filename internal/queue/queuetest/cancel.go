package queuetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Cancelling jobs, running or not.
var cancelTests = []suiteTest{
	{"Cancel", testCancel},
	{"CancelNamedDependents", testCancelNamedDependents},
}

func cancel(t *testing.T, s queue.Store, now time.Time, ids ...int64) []queue.JobCancelResult {
	t.Helper()
	res, err := s.JobCancel(t.Context(), queue.JobCancelParams{IDs: ids, Now: now})
	if err != nil {
		t.Fatalf("JobCancel(%v): %v", ids, err)
	}
	if len(res) != len(ids) {
		t.Fatalf("JobCancel of %d IDs returned %d results", len(ids), len(res))
	}
	return res
}

// JobCancel ends every job that does not run cancelled at once, asks the
// worker of a running one, and leaves final ones as they are.
func testCancel(t *testing.T, s queue.Store) {
	ids := stateFixture(t, s)
	ids["waiting"] = insertOne(t, s, after(newJob("waiting"), ids["running"]))
	ids["cancelled"] = insertOne(t, s, newJob("cancelled"))
	cancel(t, s, t0, ids["cancelled"])
	order := []string{"pending", "scheduled", "scheduled-due", "retrying", "retrying-due", "waiting", "running", "succeeded", "dead", "cancelled"}
	before := map[string]*queue.Job{}
	req := []int64{}
	for _, name := range order {
		before[name] = get(t, s, ids[name])
		req = append(req, ids[name])
	}
	missing := slices.Max(req) + 1000
	req = slices.Insert(req, 3, missing)

	now := t0.Add(time.Minute)
	res := cancel(t, s, now, req...)
	if res[3] != (queue.JobCancelResult{ID: missing}) {
		t.Errorf("JobCancel of a missing ID = %+v, want {ID: %d, Found: false}", res[3], missing)
	}
	res = slices.Delete(res, 3, 4)
	for i, name := range order {
		b := before[name]
		if want := (queue.JobCancelResult{ID: b.ID, State: b.State, Found: true}); res[i] != want {
			t.Errorf("JobCancel of the %s job = %+v, want %+v", name, res[i], want)
		}
		got := get(t, s, b.ID)
		want := *b
		switch {
		case b.State.Final():
		case b.State == queue.StateRunning:
			want.CancelRequested = true // and nothing else changes
		default:
			want.State, want.FinishedAt, want.LastError = queue.StateCancelled, now, got.LastError
		}
		checkJob(t, got, &want)
	}
	if got := claimIDs(t, s, now.Add(2*time.Hour), 100); len(got) != 0 {
		t.Errorf("claimed %v after cancelling every job", got)
	}
}

// A job named in a call and cancelled by that call, as a dependent of a
// job it cancelled first, was cancelled by the call: its result says what
// it was before, whatever the order the IDs are named in. So is a job
// named twice.
func testCancelNamedDependents(t *testing.T, s queue.Store) {
	for _, order := range []string{"dependency first", "dependent first"} {
		t.Run(order, func(t *testing.T) {
			q := strings.ReplaceAll(order, " ", "-")
			a := insertOne(t, s, newJob(q))
			b := insertOne(t, s, after(newJob(q+"-b"), a))
			c := insertOne(t, s, after(newJob(q+"-c"), b))
			ids := []int64{a, c, b, a}
			if order == "dependent first" {
				ids = []int64{c, b, a, a}
			}
			res := cancel(t, s, t0, ids...)
			want := map[int64]queue.State{a: queue.StatePending, b: queue.StateWaiting, c: queue.StateWaiting}
			for i, id := range ids {
				if w := (queue.JobCancelResult{ID: id, State: want[id], Found: true}); res[i] != w {
					t.Errorf("JobCancel(%v): result %d = %+v, want %+v", ids, i, res[i], w)
				}
			}
			for _, id := range []int64{a, b, c} {
				if st := get(t, s, id).State; st != queue.StateCancelled {
					t.Errorf("job %d is %s, want cancelled", id, st)
				}
			}
			// A later call finds them ended.
			if res := cancel(t, s, t0, b); res[0].State != queue.StateCancelled {
				t.Errorf("JobCancel of a job cancelled before: %+v, want it reported cancelled", res[0])
			}
		})
	}
}
