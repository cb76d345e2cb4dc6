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
	{"StoreStatsEnded", testStoreStatsEnded},
	{"StoreStatsSizeAndPing", testStoreStatsSizeAndPing},
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

func storeStats(t *testing.T, s queue.Store) *queue.StoreStats {
	t.Helper()
	st, err := s.StoreStats(t.Context())
	if err != nil {
		t.Fatalf("StoreStats: %v", err)
	}
	return st
}

// ended is StoreStats' Ended as queue -> state -> n.
func ended(t *testing.T, s queue.Store) map[string]map[queue.State]int64 {
	t.Helper()
	got := map[string]map[queue.State]int64{}
	for _, c := range storeStats(t, s).Ended {
		if !c.State.Final() {
			t.Errorf("Ended counts state %s, which is not final", c.State)
		}
		if got[c.Queue] == nil {
			got[c.Queue] = map[queue.State]int64{}
		}
		got[c.Queue][c.State] += c.N
	}
	return got
}

// StoreStats counts every end in a final state, by queue, however it came
// (a finish, a lease taken back, a cancel, one running down a chain of
// waiting jobs), counts a retried job's second end again, and keeps
// counting the jobs deleted since: a monitor's rate() of it must not
// fall back when retention deletes jobs.
func testStoreStatsEnded(t *testing.T, s queue.Store) {
	if got := ended(t, s); len(got) != 0 {
		t.Errorf("a new store counts ends %v, want none", got)
	}
	insert(t, s, newJob("a"), newJob("a"), newJob("c"))
	succeed(t, s, t0, "a")
	dead := fail(t, s, t0, "a")
	pending := insertOne(t, s, newJob("b"))
	insert(t, s, after(newJob("b"), pending)) // cancelled with it
	cancel(t, s, t0, pending)
	retrying := claimOne(t, s, t0, "c") // not an end
	finish(t, s, t0, queue.Decide(retrying, queue.Result{ExitCode: intp(1), Error: "exit status 1", FinishedAt: t0}, 0.5))
	last := newJob("d")
	last.MaxAttempts = 1
	lost := insertOne(t, s, last)
	claimOne(t, s, t0, "d")
	expire(t, s, t0.Add(time.Hour), 0, "other-worker") // its last attempt: dead
	want := map[string]map[queue.State]int64{
		"a": {queue.StateSucceeded: 1, queue.StateDead: 1},
		"b": {queue.StateCancelled: 2},
		"d": {queue.StateDead: 1},
	}
	if got := ended(t, s); !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("ended %v, want %v (job %d lost its lease)", got, want, lost)
	}
	retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{dead.ID}, Now: t0}})
	succeed(t, s, t0, "a")
	want["a"][queue.StateSucceeded] = 2
	if _, err := s.JobDelete(t.Context(), queue.JobFilter{States: queue.FinalStates, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if got := ended(t, s); !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("after a retry and deleting every final job: ended %v, want %v", got, want)
	}
}

// A store that answers pings and has a size.
func testStoreStatsSizeAndPing(t *testing.T, s queue.Store) {
	insert(t, s, newJob("a"))
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if st := storeStats(t, s); st.SizeBytes <= 0 {
		t.Errorf("SizeBytes = %d, want more than 0", st.SizeBytes)
	}
}
