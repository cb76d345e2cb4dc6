package queuetest

import (
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Queue settings: pauses, concurrency and rate limits across workers.
var queuesTests = []suiteTest{
	{"QueueSettings", testQueueSettings},
	{"PausedQueue", testPausedQueue},
	{"ConcurrencyLimit", testConcurrencyLimit},
	{"RateLimit", testRateLimit},
	{"RateLimitNextRunAt", testRateLimitNextRunAt},
	{"LimitsKeepClaimOrder", testLimitsKeepClaimOrder},
}

func queueSet(t *testing.T, s queue.Store, p queue.QueueSetParams) {
	t.Helper()
	if err := s.QueueSet(t.Context(), p); err != nil {
		t.Fatalf("QueueSet(%s): %v", p.Name, err)
	}
}

// queueList returns the settings of every queue QueueStats lists, by
// name.
func queueList(t *testing.T, s queue.Store) []queue.QueueSettings {
	t.Helper()
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0})
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	var qs []queue.QueueSettings
	for _, q := range stats {
		qs = append(qs, q.QueueSettings)
	}
	return qs
}

func testQueueSettings(t *testing.T, s queue.Store) {
	if qs := queueList(t, s); len(qs) != 0 {
		t.Errorf("queue settings of a new store = %+v, want none", qs)
	}
	steps := []struct {
		set  queue.QueueSetParams
		want queue.QueueSettings
	}{
		// A queue with no jobs yet gets settings all the same.
		{queue.QueueSetParams{Name: "mail", Concurrency: intp(5)}, queue.QueueSettings{Name: "mail", Concurrency: 5}},
		{queue.QueueSetParams{Name: "mail", Paused: boolp(true)}, queue.QueueSettings{Name: "mail", Paused: true, Concurrency: 5}},
		{queue.QueueSetParams{Name: "mail", Rate: intp(10), RatePeriod: durationp(time.Minute)}, queue.QueueSettings{Name: "mail", Paused: true, Concurrency: 5, Rate: 10, RatePeriod: time.Minute}},
		{queue.QueueSetParams{Name: "mail"}, queue.QueueSettings{Name: "mail", Paused: true, Concurrency: 5, Rate: 10, RatePeriod: time.Minute}},
		{queue.QueueSetParams{Name: "mail", Concurrency: intp(0)}, queue.QueueSettings{Name: "mail", Paused: true, Rate: 10, RatePeriod: time.Minute}},
		{queue.QueueSetParams{Name: "mail", Rate: intp(3), RatePeriod: durationp(1500 * time.Millisecond)}, queue.QueueSettings{Name: "mail", Paused: true, Rate: 3, RatePeriod: 1500 * time.Millisecond}},
		{queue.QueueSetParams{Name: "mail", Paused: boolp(false), Concurrency: intp(2)}, queue.QueueSettings{Name: "mail", Concurrency: 2, Rate: 3, RatePeriod: 1500 * time.Millisecond}},
	}
	for _, st := range steps {
		queueSet(t, s, st.set)
		if got := queueList(t, s); !slices.Equal(got, []queue.QueueSettings{st.want}) {
			t.Errorf("after QueueSet(%s: paused %v, concurrency %v, rate %v per %v):\nqueue settings = %+v\n     want %+v",
				st.set.Name, st.set.Paused, st.set.Concurrency, st.set.Rate, st.set.RatePeriod, got, []queue.QueueSettings{st.want})
		}
	}
	queueSet(t, s, queue.QueueSetParams{Name: "batch", Paused: boolp(true)})
	want := []queue.QueueSettings{{Name: "batch", Paused: true}, steps[len(steps)-1].want}
	if got := queueList(t, s); !slices.Equal(got, want) {
		t.Errorf("queue settings = %+v, want %+v", got, want)
	}

	// A queue with no jobs whose settings are all back to their defaults
	// leaves no trace (a typo paused then resumed); one with jobs stays,
	// for its jobs.
	insertOne(t, s, newJob("batch"))
	queueSet(t, s, queue.QueueSetParams{Name: "batch", Paused: boolp(false)})
	queueSet(t, s, queue.QueueSetParams{Name: "mail", Concurrency: intp(0), Rate: intp(0), RatePeriod: durationp(0)})
	if got := queueList(t, s); !slices.Equal(got, []queue.QueueSettings{{Name: "batch"}}) {
		t.Errorf("queue settings = %+v after mail's settings went back to defaults, want only batch's (it has a job)", got)
	}
	queueSet(t, s, queue.QueueSetParams{Name: "mial", Paused: boolp(true)})
	queueSet(t, s, queue.QueueSetParams{Name: "mial", Paused: boolp(false)})
	queueSet(t, s, queue.QueueSetParams{Name: "nothing"})
	if got := queueList(t, s); !slices.Equal(got, []queue.QueueSettings{{Name: "batch"}}) {
		t.Errorf("queue settings = %+v, want only batch's", got)
	}
}

func testPausedQueue(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("a"), newJob("b"), newJob("a"), newJob("c"))
	queueSet(t, s, queue.QueueSetParams{Name: "a", Paused: boolp(true)})
	if got := claimIDs(t, s, t0, 10, "a"); len(got) != 0 {
		t.Errorf("claimed %v from paused queue a", got)
	}
	if got := claimIDs(t, s, t0, 1); !slices.Equal(got, ids[1:2]) {
		t.Errorf("claimed %v with Limit 1, want %v: the paused queue's jobs come first but are skipped", got, ids[1:2])
	}
	if got := claimIDs(t, s, t0, 10); !slices.Equal(got, ids[3:]) {
		t.Errorf("claimed %v from every queue, want only queue c's %v", got, ids[3:])
	}
	queueSet(t, s, queue.QueueSetParams{Name: "a", Paused: boolp(false)})
	if got := claimIDs(t, s, t0, 10); !slices.Equal(got, []int64{ids[0], ids[2]}) {
		t.Errorf("after resuming a: claimed %v, want %v", got, []int64{ids[0], ids[2]})
	}
}

// A concurrency limit counts the jobs running in the queue, whichever
// worker runs them.
func testConcurrencyLimit(t *testing.T, s queue.Store) {
	queueSet(t, s, queue.QueueSetParams{Name: "lim", Concurrency: intp(2)})
	ids := insert(t, s, newJob("lim"), newJob("lim"), newJob("lim"), newJob("lim"), newJob("free"), newJob("free"))
	other := claim(t, s, queue.JobClaimParams{Queues: []string{"lim"}, Limit: 1, Now: t0, Worker: "host-b:7"}).Jobs[0]
	if other.ID != ids[0] {
		t.Fatalf("the other worker claimed %d, want %d", other.ID, ids[0])
	}
	if got := claimIDs(t, s, t0, 10); !slices.Equal(got, []int64{ids[1], ids[4], ids[5]}) {
		t.Errorf("with 1 of 2 running: claimed %v, want %v", got, []int64{ids[1], ids[4], ids[5]})
	}
	if got := claimIDs(t, s, t0, 10); len(got) != 0 {
		t.Errorf("with 2 of 2 running: claimed %v", got)
	}
	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{ID: other.ID, Run: other.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: end, ExitCode: intp(0)})
	if got := claimIDs(t, s, end, 10, "lim"); !slices.Equal(got, ids[2:3]) {
		t.Errorf("after one ended: claimed %v, want %v", got, ids[2:3])
	}
	queueSet(t, s, queue.QueueSetParams{Name: "lim", Concurrency: intp(0)})
	if got := claimIDs(t, s, end, 10); !slices.Equal(got, ids[3:4]) {
		t.Errorf("without the limit: claimed %v, want %v", got, ids[3:4])
	}
}

// A rate limit counts the jobs started in the queue within the period
// before Now, whichever worker started them and whether they still run.
func testRateLimit(t *testing.T, s queue.Store) {
	queueSet(t, s, queue.QueueSetParams{Name: "r", Rate: intp(2), RatePeriod: durationp(time.Minute)})
	ids := insert(t, s, newJob("r"), newJob("r"), newJob("r"), newJob("r"), newJob("r"), newJob("free"))
	first := claim(t, s, queue.JobClaimParams{Queues: []string{"r"}, Limit: 1, Now: t0, Worker: "host-b:7"}).Jobs[0]
	finish(t, s, t0.Add(time.Second), queue.JobFinishParams{ID: first.ID, Run: first.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0.Add(time.Second), ExitCode: intp(0)})
	steps := []struct {
		now  time.Duration
		want []int64
	}{
		{10 * time.Second, []int64{ids[1], ids[5]}}, // one of two left; other queues unlimited
		{59 * time.Second, nil},
		{61 * time.Second, ids[2:3]}, // the first start has left the period
		{65 * time.Second, nil},
	}
	for _, st := range steps {
		if got := claimIDs(t, s, t0.Add(st.now), 10); !slices.Equal(got, st.want) {
			t.Errorf("at t0+%v: claimed %v, want %v", st.now, got, st.want)
		}
	}
	queueSet(t, s, queue.QueueSetParams{Name: "r", Rate: intp(0)})
	if got := claimIDs(t, s, t0.Add(65*time.Second), 10); !slices.Equal(got, ids[3:5]) {
		t.Errorf("without the limit: claimed %v, want %v", got, ids[3:5])
	}
}

// A ready job that a rate limit holds back falls due when the oldest
// start of the period leaves it: no other write will wake a worker then.
func testRateLimitNextRunAt(t *testing.T, s queue.Store) {
	queueSet(t, s, queue.QueueSetParams{Name: "r", Rate: intp(2), RatePeriod: durationp(time.Minute)})
	ids := insert(t, s, newJob("r"), newJob("r"), newJob("r"))
	later := newJob("s")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(2*time.Minute)
	insertOne(t, s, later)
	claimIDs(t, s, t0, 1, "r")
	claimIDs(t, s, t0.Add(10*time.Second), 1, "r")
	steps := []struct {
		now     time.Duration
		queues  []string
		claimed []int64
		next    time.Duration // from t0; 0: none
	}{
		{20 * time.Second, nil, nil, time.Minute},
		{20 * time.Second, []string{"s"}, nil, 2 * time.Minute}, // r's limit is not this claim's business
		{59 * time.Second, []string{"r"}, nil, time.Minute},
		{time.Minute, []string{"r"}, ids[2:], 0}, // nothing left to hold back
		{time.Minute, nil, nil, 2 * time.Minute},
	}
	for _, st := range steps {
		res := claim(t, s, queue.JobClaimParams{Queues: st.queues, Limit: 10, Now: t0.Add(st.now)})
		var got []int64
		for _, j := range res.Jobs {
			got = append(got, j.ID)
		}
		want := time.Time{}
		if st.next != 0 {
			want = t0.Add(st.next)
		}
		if !slices.Equal(got, st.claimed) || !sameTime(res.NextRunAt, want) {
			t.Errorf("claim of %v at t0+%v: claimed %v, NextRunAt %v; want %v, %v", st.queues, st.now, got, res.NextRunAt, st.claimed, want)
		}
	}
}

// When limits make a store pick jobs one by one, it still claims by
// priority, then run_at, then ID.
func testLimitsKeepClaimOrder(t *testing.T, s queue.Store) {
	// fixture inserts jobs in queues prefix-lim and prefix-free and returns
	// their IDs in claim order.
	fixture := func(prefix string) (lim, all []int64) {
		job := func(q string, prio int, runAt time.Duration) queue.JobInsertParams {
			p := newJob(prefix + "-" + q)
			p.Priority, p.RunAt = prio, t0.Add(runAt)
			return p
		}
		ids := insert(t, s,
			job("lim", 0, -3*time.Minute),  // 0
			job("free", 5, -1*time.Minute), // 1
			job("lim", 5, -2*time.Minute),  // 2
			job("free", 0, -3*time.Minute), // 3: as 0, inserted later
			job("lim", 0, 0),               // 4
			job("free", -1, -time.Hour),    // 5
			job("lim", 10, time.Minute),    // 6: not ready
		)
		ids = append(ids, insertOne(t, s, job("lim", 5, -2*time.Minute))) // 7: as 2, inserted later
		return []int64{ids[2], ids[7], ids[0], ids[4]}, []int64{ids[2], ids[7], ids[1], ids[0], ids[3], ids[4], ids[5]}
	}
	for _, q := range []string{"a-lim", "b-lim"} {
		queueSet(t, s, queue.QueueSetParams{Name: q, Concurrency: intp(100)})
	}
	queueSet(t, s, queue.QueueSetParams{Name: "c-lim", Concurrency: intp(2)})
	queueSet(t, s, queue.QueueSetParams{Name: "elsewhere", Paused: boolp(true)})

	_, want := fixture("a")
	if got := claimIDs(t, s, t0, 100, "a-lim", "a-free"); !slices.Equal(got, want) {
		t.Errorf("all at once: claimed %v, want %v", got, want)
	}

	_, want = fixture("b")
	var one []int64
	for range want {
		one = append(one, claimIDs(t, s, t0, 1, "b-lim", "b-free")...)
	}
	if !slices.Equal(one, want) {
		t.Errorf("one at a time: claimed %v, want %v", one, want)
	}

	lim, all := fixture("c")
	want = slices.DeleteFunc(slices.Clone(all), func(id int64) bool {
		return slices.Contains(lim[2:], id) // over the limit of 2
	})
	if got := claimIDs(t, s, t0, 100, "c-lim", "c-free"); !slices.Equal(got, want) {
		t.Errorf("capped at 2 in c-lim: claimed %v, want %v", got, want)
	}
}
