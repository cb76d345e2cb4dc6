package queuetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Listing jobs: order, states as users see them, filters.
var listTests = []suiteTest{
	{"ListNewestFirst", testListNewestFirst},
	{"ListByState", testListByState},
	{"ListByQueueAndLimit", testListByQueueAndLimit},
	{"ListFilters", testListFilters},
	{"LastOutput", testLastOutput},
}

func testListNewestFirst(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("a"), newJob("b"), newJob("a"))
	ids = append(ids, insertOne(t, s, newJob("c")))
	got := list(t, s, queue.JobFilter{Now: t0})
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("JobList = %v, want newest first %v", got, want)
	}
	if got := list(t, s, queue.JobFilter{Queues: []string{"nothing-here"}, Now: t0}); len(got) != 0 {
		t.Errorf("JobList of an empty queue = %v", got)
	}
}

// stateFixture makes one job in every state a store can reach through the
// interface, each in its own queue, and returns their IDs by name.
func stateFixture(t *testing.T, s queue.Store) map[string]int64 {
	t.Helper()
	future, past := t0.Add(time.Hour), t0.Add(-time.Hour)
	job := func(q string, st queue.State, runAt time.Time) queue.JobInsertParams {
		p := newJob(q)
		p.State, p.RunAt = st, runAt
		return p
	}
	ids := map[string]int64{}
	ids["pending"] = insertOne(t, s, job("pending", queue.StatePending, past))
	ids["scheduled"] = insertOne(t, s, job("scheduled", queue.StateScheduled, future))
	ids["scheduled-due"] = insertOne(t, s, job("scheduled-due", queue.StateScheduled, t0))
	for _, name := range []string{"running", "retrying", "retrying-due", "succeeded", "dead"} {
		ids[name] = insertOne(t, s, job(name, queue.StatePending, past))
		j := claimOne(t, s, t0, name)
		p := queue.JobFinishParams{ID: j.ID, Run: j.Run, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(1), Error: "exit status 1"}
		switch name {
		case "running":
			continue
		case "retrying":
			p.State, p.RunAt = queue.StateRetrying, future
		case "retrying-due":
			p.State, p.RunAt = queue.StateRetrying, t0
		case "succeeded":
			p.State, p.ExitCode, p.Error = queue.StateSucceeded, intp(0), ""
		case "dead":
			p.State = queue.StateDead
		}
		finish(t, s, t0, p)
	}
	return ids
}

// newestFirst is the IDs of the named jobs as JobList orders them.
func newestFirst(ids map[string]int64, names ...string) []int64 {
	var want []int64
	for _, n := range names {
		want = append(want, ids[n])
	}
	slices.Sort(want)
	slices.Reverse(want)
	return want
}

func testListByState(t *testing.T, s queue.Store) {
	ids := stateFixture(t, s)
	byName := func(names ...string) []int64 { return newestFirst(ids, names...) }
	tests := []struct {
		states []queue.State
		now    time.Time
		want   []int64
	}{
		{[]queue.State{queue.StatePending}, t0, byName("pending", "scheduled-due", "retrying-due")},
		{[]queue.State{queue.StateScheduled}, t0, byName("scheduled")},
		{[]queue.State{queue.StateRetrying}, t0, byName("retrying")},
		{[]queue.State{queue.StateRunning}, t0, byName("running")},
		{[]queue.State{queue.StateSucceeded}, t0, byName("succeeded")},
		{[]queue.State{queue.StateDead}, t0, byName("dead")},
		{[]queue.State{queue.StateCancelled}, t0, nil},
		{[]queue.State{queue.StateWaiting}, t0, nil},
		{[]queue.State{queue.StateSucceeded, queue.StateDead}, t0, byName("succeeded", "dead")},
		{[]queue.State{queue.StateScheduled, queue.StateRetrying}, t0, byName("scheduled", "retrying")},
		{[]queue.State{queue.StatePending, queue.StateRunning}, t0, byName("pending", "scheduled-due", "retrying-due", "running")},
		// Just before the due ones fall due, they are still waiting.
		{[]queue.State{queue.StatePending}, t0.Add(-time.Millisecond), byName("pending")},
		{[]queue.State{queue.StateScheduled}, t0.Add(-time.Millisecond), byName("scheduled", "scheduled-due")},
		{[]queue.State{queue.StateRetrying}, t0.Add(-time.Millisecond), byName("retrying", "retrying-due")},
		// Later, everything that waited for its time is ready.
		{[]queue.State{queue.StatePending}, t0.Add(2 * time.Hour), byName("pending", "scheduled", "scheduled-due", "retrying", "retrying-due")},
		{[]queue.State{queue.StateScheduled, queue.StateRetrying}, t0.Add(2 * time.Hour), nil},
		{nil, t0, byName("pending", "scheduled", "scheduled-due", "running", "retrying", "retrying-due", "succeeded", "dead")},
	}
	for _, tt := range tests {
		got := list(t, s, queue.JobFilter{States: tt.states, Now: tt.now})
		if !slices.Equal(got, tt.want) {
			t.Errorf("JobList(states %v at t0%+v) = %v, want %v", tt.states, tt.now.Sub(t0), got, tt.want)
		}
		// Every job listed is in a state asked for, as users see it.
		jobs, _ := s.JobList(t.Context(), queue.JobFilter{States: tt.states, Now: tt.now})
		for _, j := range jobs {
			if len(tt.states) > 0 && !slices.Contains(tt.states, j.StateAt(tt.now)) {
				t.Errorf("JobList(states %v) listed job %d, which is %s", tt.states, j.ID, j.StateAt(tt.now))
			}
		}
	}
}

func testListByQueueAndLimit(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("a"), newJob("b"), newJob("a"), newJob("c"), newJob("a"))
	tests := []struct {
		p    queue.JobFilter
		want []int64
	}{
		{queue.JobFilter{Queues: []string{"a"}}, []int64{ids[4], ids[2], ids[0]}},
		{queue.JobFilter{Queues: []string{"b", "c"}}, []int64{ids[3], ids[1]}},
		{queue.JobFilter{Queues: []string{"a"}, Limit: 2}, []int64{ids[4], ids[2]}},
		{queue.JobFilter{Limit: 1}, []int64{ids[4]}},
		{queue.JobFilter{Limit: 100}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{queue.JobFilter{Queues: []string{"c"}, States: []queue.State{queue.StatePending}}, []int64{ids[3]}},
		{queue.JobFilter{Queues: []string{"c"}, States: []queue.State{queue.StateDead}}, nil},
	}
	for _, tt := range tests {
		tt.p.Now = t0
		if got := list(t, s, tt.p); !slices.Equal(got, tt.want) {
			t.Errorf("JobList(%+v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func testListFilters(t *testing.T, s queue.Store) {
	ids := map[string]int64{}
	for _, name := range []string{"exit2", "exit3", "killed", "timeout", "late", "pending"} {
		ids[name] = insertOne(t, s, newJob(name))
	}
	die(t, s, t0, "exit2", 2, "", "exit status 2")
	die(t, s, t0, "exit3", 3, "", "exit status 3")
	die(t, s, t0, "killed", 0, "SIGKILL", "killed by SIGKILL")
	die(t, s, t0, "timeout", 0, "SIGTERM", "timed out after 5s")
	die(t, s, t0.Add(time.Hour), "late", 2, "", "exit status 2")
	byName := func(names ...string) []int64 { return newestFirst(ids, names...) }
	for _, tt := range []struct {
		name string
		f    queue.JobFilter
		want []int64
	}{
		{"exit code", queue.JobFilter{ExitCodes: []int{2}}, byName("exit2", "late")},
		{"exit codes", queue.JobFilter{ExitCodes: []int{2, 3}}, byName("exit2", "exit3", "late")},
		{"error", queue.JobFilter{Error: "timed out"}, byName("timeout")},
		{"error is case-sensitive", queue.JobFilter{Error: "Timed out"}, nil},
		{"since", queue.JobFilter{States: []queue.State{queue.StateDead}, Since: t0.Add(time.Minute)}, byName("late")},
		{"before", queue.JobFilter{States: []queue.State{queue.StateDead}, Before: t0.Add(time.Minute)}, byName("exit2", "exit3", "killed", "timeout")},
		// A job that has not ended counts from its creation.
		{"before, any state", queue.JobFilter{Before: t0.Add(time.Minute)}, byName("exit2", "exit3", "killed", "timeout", "pending")},
		{"since and before", queue.JobFilter{Since: t0, Before: t0.Add(time.Minute), ExitCodes: []int{3}}, byName("exit3")},
		{"IDs", queue.JobFilter{IDs: []int64{ids["late"], ids["pending"], 999999}}, byName("late", "pending")},
		{"IDs and state", queue.JobFilter{IDs: []int64{ids["late"], ids["pending"]}, States: []queue.State{queue.StateDead}}, byName("late")},
	} {
		tt.f.Now = t0
		if got := list(t, s, tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: JobList = %v, want %v", tt.name, got, tt.want)
		}
		n, err := s.JobCount(t.Context(), tt.f)
		if err != nil || n != len(tt.want) {
			t.Errorf("%s: JobCount = %d, %v; want %d", tt.name, n, err, len(tt.want))
		}
		tt.f.Limit = 1
		if n, err := s.JobCount(t.Context(), tt.f); err != nil || n != len(tt.want) {
			t.Errorf("%s: JobCount with Limit 1 = %d, %v; want %d: it counts them all", tt.name, n, err, len(tt.want))
		}
	}
	// The signal that ended the last attempt is kept on the job.
	if j := get(t, s, ids["killed"]); j.Signal != "SIGKILL" || j.ExitCode != nil {
		t.Errorf("killed job: signal %q, exit code %v; want SIGKILL and none", j.Signal, showInt(j.ExitCode))
	}
}

// JobGet and JobList give the last line of the output of a job's latest
// attempt, the first place to look for why it failed; claims do not.
func testLastOutput(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("mail"))
	quiet := insertOne(t, s, newJob("quiet"))
	check := func(want string) {
		t.Helper()
		if got := get(t, s, id).LastOutput; got != want {
			t.Errorf("JobGet: last output %q, want %q", got, want)
		}
		jobs, err := s.JobList(t.Context(), queue.JobFilter{IDs: []int64{id, quiet}, Now: t0})
		if err != nil || len(jobs) != 2 || jobs[1].ID != id || jobs[1].LastOutput != want || jobs[0].LastOutput != "" {
			t.Errorf("JobList: %v; want job %d with last output %q, job %d with none", err, id, want, quiet)
		}
	}
	check("")
	j := claimOne(t, s, t0, "mail")
	long := strings.Repeat("x", 1000)
	finish(t, s, t0, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0, FinishedAt: t0, ExitCode: intp(1),
		Output: []byte(long + "\nconnecting\n535 5.7.8 Authentication credentials invalid\n\n")})
	check("535 5.7.8 Authentication credentials invalid")

	// The latest attempt's, not the last that printed: a running one has
	// printed nothing yet.
	j = claimOne(t, s, t0, "mail")
	if j.LastOutput != "" {
		t.Errorf("a claim filled LastOutput: %q", j.LastOutput)
	}
	check("")
	finish(t, s, t0, queue.JobFinishParams{ID: id, Run: j.Run, State: queue.StateDead, Attempts: 2, FinishedAt: t0, ExitCode: intp(1),
		Output: []byte("done\n" + long + "\n")})
	check(long[:queue.LastOutputMax])
}
