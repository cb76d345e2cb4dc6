package queuetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Per-queue statistics, kept through every change.
var statsTests = []suiteTest{
	{"QueueStats", testQueueStats},
	{"QueueStatsFollowChanges", testQueueStatsFollowChanges},
}

// checkCounts checks that QueueStats counts, per queue and state as users
// see it, exactly the jobs JobList returns.
func checkCounts(t *testing.T, s queue.Store, now time.Time) {
	t.Helper()
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[queue.State]int{}
	for _, j := range jobs {
		if want[j.Queue] == nil {
			want[j.Queue] = map[queue.State]int{}
		}
		want[j.Queue][j.StateAt(now)]++
	}
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: now, RecentSince: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[queue.State]int{}
	for _, q := range stats {
		if len(q.Counts) > 0 {
			got[q.Name] = q.Counts
		}
	}
	if !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("QueueStats counts %v; the jobs listed are %v", got, want)
	}
}

func testQueueStats(t *testing.T, s queue.Store) {
	stateFixture(t, s) // one job per queue, named after its state
	past := t0.Add(-time.Hour)
	queueSet(t, s, queue.QueueSetParams{Name: "pending", Paused: boolp(true)})
	queueSet(t, s, queue.QueueSetParams{Name: "idle", Concurrency: intp(2)})
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]queue.QueueStats{}
	var order []string
	for _, q := range stats {
		byName[q.Name] = q
		order = append(order, q.Name)
	}
	if !slices.IsSorted(order) {
		t.Errorf("queues in order %v, want by name", order)
	}
	for _, tt := range []struct {
		queue  string
		counts map[queue.State]int
		oldest time.Time
	}{
		{"pending", map[queue.State]int{queue.StatePending: 1}, past},
		{"scheduled", map[queue.State]int{queue.StateScheduled: 1}, time.Time{}},
		{"scheduled-due", map[queue.State]int{queue.StatePending: 1}, t0},
		{"running", map[queue.State]int{queue.StateRunning: 1}, time.Time{}},
		{"retrying", map[queue.State]int{queue.StateRetrying: 1}, time.Time{}},
		{"retrying-due", map[queue.State]int{queue.StatePending: 1}, t0},
		{"succeeded", map[queue.State]int{queue.StateSucceeded: 1}, time.Time{}},
		{"dead", map[queue.State]int{queue.StateDead: 1}, time.Time{}},
		{"idle", map[queue.State]int{}, time.Time{}},
	} {
		q, ok := byName[tt.queue]
		if !ok {
			t.Errorf("queue %s missing from %v", tt.queue, order)
			continue
		}
		if !maps.Equal(q.Counts, tt.counts) || !sameTime(q.OldestReady, tt.oldest) {
			t.Errorf("queue %s: counts %v, oldest ready %v; want %v, %v", tt.queue, q.Counts, q.OldestReady, tt.counts, tt.oldest)
		}
	}
	if q := byName["pending"]; !q.Paused {
		t.Errorf("queue pending is not shown paused: %+v", q)
	}
	if q := byName["idle"]; q.Concurrency != 2 {
		t.Errorf("queue idle: concurrency %d, want 2", q.Concurrency)
	}
	if s, d := byName["succeeded"], byName["dead"]; s.RecentSucceeded != 1 || s.RecentDead != 0 || d.RecentDead != 1 || d.RecentSucceeded != 0 {
		t.Errorf("ended since a minute ago: succeeded queue %d/%d, dead queue %d/%d; want 1/0 and 0/1",
			s.RecentSucceeded, s.RecentDead, d.RecentSucceeded, d.RecentDead)
	}
	stats, err = s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stats {
		if q.RecentSucceeded != 0 || q.RecentDead != 0 {
			t.Errorf("queue %s: %d succeeded and %d dead after they ended", q.Name, q.RecentSucceeded, q.RecentDead)
		}
	}
}

// The counts follow every way a job changes or goes: insert (also with a
// unique key already taken, and with a dependency that failed), claim,
// finish, cancel down a chain, retry, delete.
func testQueueStatsFollowChanges(t *testing.T, s queue.Store) {
	checkCounts(t, s, t0)
	ids := insert(t, s, newJob("a"), newJob("a"), withKey(newJob("b"), "k"), withKey(newJob("b"), "k"))
	checkCounts(t, s, t0)
	die(t, s, t0, "b", 1, "", "exit status 1")
	insert(t, s, after(newJob("c"), ids[2]), after(newJob("c"), ids[0]))
	checkCounts(t, s, t0)
	succeed(t, s, t0, "a")
	claimOne(t, s, t0, "a")
	checkCounts(t, s, t0)
	cancel(t, s, t0, ids[1]) // running: marked only
	checkCounts(t, s, t0)
	// A lost worker's job taken back; a job handed back at shutdown; a
	// cancellation running down a chain of waiting jobs.
	expire(t, s, t0.Add(time.Hour), 0, "other-worker")
	checkCounts(t, s, t0.Add(time.Hour))
	head := insertOne(t, s, newJob("d"))
	insert(t, s, after(newJob("d"), head))
	j := claimOne(t, s, t0, "d")
	finish(t, s, t0, queue.Decide(j, queue.Result{Interrupted: true, FinishedAt: t0}, 0.5))
	checkCounts(t, s, t0)
	cancel(t, s, t0, head)
	checkCounts(t, s, t0)
	retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{States: []queue.State{queue.StateDead, queue.StateCancelled}, Now: t0}})
	checkCounts(t, s, t0)
	if _, err := s.JobDelete(t.Context(), queue.JobFilter{Now: t0}); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s, t0)
}
