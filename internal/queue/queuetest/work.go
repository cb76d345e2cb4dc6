package queuetest

// What jobq work needs of a store beyond claiming and finishing: leases of
// lost workers taken back, when to look again, queue pauses and limits,
// cancellation, dependencies and deletion.

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

var workTests = []suiteTest{
	{"ExpiredLeaseRetrying", testExpiredLeaseRetrying},
	{"ExpiredLeaseDeadOnLastAttempt", testExpiredLeaseDeadOnLastAttempt},
	{"ExpiredLeaseCancelled", testExpiredLeaseCancelled},
	{"ExpiredLeaseRecordedBeforeClaim", testExpiredLeaseRecordedBeforeClaim},
	{"ExpiredLeaseNeedsFunc", testExpiredLeaseNeedsFunc},
	{"NextRunAt", testNextRunAt},
	{"QueueSettings", testQueueSettings},
	{"PausedQueue", testPausedQueue},
	{"ConcurrencyLimit", testConcurrencyLimit},
	{"RateLimit", testRateLimit},
	{"RateLimitNextRunAt", testRateLimitNextRunAt},
	{"LimitsKeepClaimOrder", testLimitsKeepClaimOrder},
	{"HeartbeatCancel", testHeartbeatCancel},
	{"Cancel", testCancel},
	{"AfterWaits", testAfterWaits},
	{"AfterFailedCancelsChain", testAfterFailedCancelsChain},
	{"AfterSettledAtInsert", testAfterSettledAtInsert},
	{"AfterMissing", testAfterMissing},
	{"Delete", testDelete},
	{"DeleteNeverRunning", testDeleteNeverRunning},
	{"DeleteNeverReusesIDs", testDeleteNeverReusesIDs},
}

// expire takes back, at now, the jobs whose lease ended before now, as a
// worker does, claiming up to limit jobs after; it returns the jobs the
// store handed to Expired and what JobClaim returned.
func expire(t *testing.T, s queue.Store, now time.Time, limit int, w string) ([]*queue.Job, *queue.JobClaimResult) {
	t.Helper()
	var handed []*queue.Job
	res := claim(t, s, queue.JobClaimParams{Limit: limit, Now: now, Worker: w, Expired: func(j *queue.Job) queue.JobFinishParams {
		handed = append(handed, j)
		return queue.LeaseExpired(j, now, 0.5)
	}})
	return handed, res
}

func heartbeat(t *testing.T, s queue.Store, w string, lease time.Time, jobs ...*queue.Job) *queue.JobHeartbeatResult {
	t.Helper()
	refs := make([]queue.JobRef, len(jobs))
	for i, j := range jobs {
		refs[i] = queue.JobRef{ID: j.ID, Run: j.Run}
	}
	res, err := s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{Worker: w, Jobs: refs, LeaseUntil: lease})
	if err != nil {
		t.Fatalf("JobHeartbeat: %v", err)
	}
	return res
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

func queueSet(t *testing.T, s queue.Store, p queue.QueueSetParams) {
	t.Helper()
	if err := s.QueueSet(t.Context(), p); err != nil {
		t.Fatalf("QueueSet(%s): %v", p.Name, err)
	}
}

func queueList(t *testing.T, s queue.Store) []queue.QueueSettings {
	t.Helper()
	qs, err := s.QueueList(t.Context())
	if err != nil {
		t.Fatalf("QueueList: %v", err)
	}
	// The interface promises no order.
	slices.SortFunc(qs, func(a, b queue.QueueSettings) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return qs
}

// succeed records the success of a job claimed in its own queue q.
func succeed(t *testing.T, s queue.Store, now time.Time, q string) *queue.Job {
	t.Helper()
	j := claimOne(t, s, now, q)
	finish(t, s, now, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts, FinishedAt: now, ExitCode: intp(0)})
	return j
}

// fail records the last, failed attempt of a job claimed in its own queue q.
func fail(t *testing.T, s queue.Store, now time.Time, q string) *queue.Job {
	t.Helper()
	j := claimOne(t, s, now, q)
	finish(t, s, now, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: j.Attempts, FinishedAt: now, ExitCode: intp(1), Error: "exit status 1"})
	return j
}

func after(p queue.JobInsertParams, ids ...int64) queue.JobInsertParams {
	p.After = ids
	return p
}

func boolp(b bool) *bool                       { return &b }
func durationp(d time.Duration) *time.Duration { return &d }

// names reports whether text names job id as a whole number.
func names(text string, id int64) bool {
	return regexp.MustCompile(`\b` + strconv.FormatInt(id, 10) + `\b`).MatchString(text)
}

// A job whose worker was lost is taken back by another worker as a failed
// attempt, retried after its backoff; the lost worker can neither record
// an outcome for that attempt nor renew its lease, then or later.
func testExpiredLeaseRetrying(t *testing.T, s queue.Store) {
	insert(t, s, newJob("lost"), newJob("alive"), newJob("edge"))
	now := t0.Add(31 * time.Second)
	lost := claim(t, s, queue.JobClaimParams{Queues: []string{"lost"}, Limit: 1, Now: t0, LeaseUntil: t0.Add(30 * time.Second)}).Jobs[0]
	alive := claim(t, s, queue.JobClaimParams{Queues: []string{"alive"}, Limit: 1, Now: t0, LeaseUntil: t0.Add(time.Hour), Worker: "host-b:7"}).Jobs[0]
	edge := claim(t, s, queue.JobClaimParams{Queues: []string{"edge"}, Limit: 1, Now: t0, LeaseUntil: now}).Jobs[0] // ends just now: not expired
	before := get(t, s, lost.ID)
	beforeAlive, beforeEdge := get(t, s, alive.ID), get(t, s, edge.ID)

	handed, res := expire(t, s, now, 0, "host-c:9")
	if len(handed) != 1 {
		t.Fatalf("Expired was handed %d jobs, want only job %d", len(handed), lost.ID)
	}
	checkJob(t, handed[0], before)
	want := queue.LeaseExpired(before, now, 0.5)
	if want.State != queue.StateRetrying {
		t.Fatalf("LeaseExpired decided %s, the test needs retrying", want.State)
	}
	if !reflect.DeepEqual(res.Expired, []queue.JobFinishParams{want}) {
		t.Errorf("res.Expired = %+v, want %+v", res.Expired, []queue.JobFinishParams{want})
	}
	if len(res.Jobs) != 0 || len(res.Lost) != 0 {
		t.Errorf("taking back with Limit 0: claimed %d jobs, lost %v", len(res.Jobs), res.Lost)
	}
	retried := *before
	retried.State, retried.RunAt, retried.LastError = queue.StateRetrying, now.Add(10*time.Second), "worker lost: lease expired"
	retried.Worker, retried.LeaseUntil = "", time.Time{}
	checkJob(t, get(t, s, lost.ID), &retried)
	checkJob(t, get(t, s, alive.ID), beforeAlive)
	checkJob(t, get(t, s, edge.ID), beforeEdge)
	as := attempts(t, s, lost.ID)
	if len(as) != 1 {
		t.Fatalf("history has %d attempts, want 1", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: lost.ID, Run: 1, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: now, Error: "worker lost: lease expired"})

	// The lost worker comes back: it holds nothing.
	stale := queue.JobFinishParams{ID: lost.ID, Run: lost.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: now, ExitCode: intp(0)}
	if res := claim(t, s, queue.JobClaimParams{Now: now, Finish: []queue.JobFinishParams{stale}}); !slices.Equal(res.Lost, []int64{lost.ID}) {
		t.Errorf("the lost worker's finish: Lost = %v, want [%d]", res.Lost, lost.ID)
	}
	if hb := heartbeat(t, s, worker, now.Add(time.Minute), lost); !slices.Equal(hb.Lost, []int64{lost.ID}) || len(hb.Cancel) != 0 {
		t.Errorf("the lost worker's heartbeat = %+v, want it lost", hb)
	}
	checkJob(t, get(t, s, lost.ID), &retried)

	// Once another worker runs it again, the old run is still fenced off.
	again := claim(t, s, queue.JobClaimParams{Limit: 10, Now: retried.RunAt, Worker: "host-c:9"})
	if len(again.Jobs) != 1 || again.Jobs[0].ID != lost.ID || again.Jobs[0].Run != 2 || again.Jobs[0].Attempts != 2 {
		t.Fatalf("after the backoff claimed %d jobs, want job %d as run 2, attempt 2", len(again.Jobs), lost.ID)
	}
	running := get(t, s, lost.ID)
	if res := claim(t, s, queue.JobClaimParams{Now: retried.RunAt, Finish: []queue.JobFinishParams{stale}}); !slices.Equal(res.Lost, []int64{lost.ID}) {
		t.Errorf("the lost worker's finish after the job ran again: Lost = %v, want [%d]", res.Lost, lost.ID)
	}
	if hb := heartbeat(t, s, worker, now.Add(time.Hour), lost); !slices.Equal(hb.Lost, []int64{lost.ID}) {
		t.Errorf("the lost worker's heartbeat after the job ran again = %+v, want it lost", hb)
	}
	checkJob(t, get(t, s, lost.ID), running)
}

// A lost worker's job on its last attempt goes dead, with the attempt
// counted; here on the second of two.
func testExpiredLeaseDeadOnLastAttempt(t *testing.T, s queue.Store) {
	p := newJob("default")
	p.MaxAttempts, p.Backoff = 2, 0
	id := insertOne(t, s, p)
	claimOne(t, s, t0, "default")
	now := t0.Add(time.Minute)
	if handed, _ := expire(t, s, now, 0, "host-b:7"); len(handed) != 1 {
		t.Fatalf("first expiry handed %d jobs, want 1", len(handed))
	}
	if got := get(t, s, id); got.State != queue.StateRetrying || got.Attempts != 1 {
		t.Fatalf("after the first expiry: %s with %d attempts, want retrying with 1", got.State, got.Attempts)
	}
	j := claimOne(t, s, now, "default")
	later := now.Add(time.Minute)
	handed, res := expire(t, s, later, 10, "host-b:7")
	if len(handed) != 1 || handed[0].ID != id || handed[0].Attempts != 2 || handed[0].Run != j.Run {
		t.Fatalf("second expiry handed %d jobs, want job %d at attempt 2", len(handed), id)
	}
	if len(res.Expired) != 1 || res.Expired[0].State != queue.StateDead {
		t.Errorf("res.Expired = %+v, want job %d dead", res.Expired, id)
	}
	if len(res.Jobs) != 0 {
		t.Errorf("a dead job was claimed again: %d jobs", len(res.Jobs))
	}
	got := get(t, s, id)
	if got.State != queue.StateDead || got.Attempts != 2 || !got.FinishedAt.Equal(later) || got.LastError != "worker lost: lease expired" || got.Worker != "" {
		t.Errorf("job = %s, attempts %d, finished %v, error %q, worker %q; want dead, 2, %v, worker lost: lease expired, none",
			got.State, got.Attempts, got.FinishedAt, got.LastError, got.Worker, later)
	}
	if handed, _ := expire(t, s, later.Add(time.Hour), 10, "host-b:7"); len(handed) != 0 {
		t.Errorf("a dead job was handed to Expired again")
	}
	if as := attempts(t, s, id); len(as) != 2 || !as[1].FinishedAt.Equal(later) || as[1].Error != "worker lost: lease expired" {
		t.Errorf("history = %+v, want two attempts, the second ended by the expiry", as)
	}
}

// A job asked to stop whose worker was lost ends cancelled, not retried.
func testExpiredLeaseCancelled(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	claimOne(t, s, t0, "default")
	cancel(t, s, t0.Add(time.Second), id)
	now := t0.Add(time.Minute)
	handed, res := expire(t, s, now, 10, "host-b:7")
	if len(handed) != 1 || !handed[0].CancelRequested {
		t.Fatalf("Expired was handed %d jobs; want job %d with CancelRequested", len(handed), id)
	}
	if len(res.Expired) != 1 || res.Expired[0].State != queue.StateCancelled {
		t.Errorf("res.Expired = %+v, want job %d cancelled", res.Expired, id)
	}
	got := get(t, s, id)
	if got.State != queue.StateCancelled || !got.FinishedAt.Equal(now) || got.Attempts != 1 {
		t.Errorf("job = %s, finished %v, attempts %d; want cancelled at %v, 1", got.State, got.FinishedAt, got.Attempts, now)
	}
	if len(res.Jobs) != 0 {
		t.Errorf("a cancelled job was claimed again")
	}
}

// Outcomes of expired leases are recorded before claiming: a job retried
// without backoff is claimed again in the same call, and a lost job no
// longer counts against its queue's concurrency.
func testExpiredLeaseRecordedBeforeClaim(t *testing.T, s queue.Store) {
	queueSet(t, s, queue.QueueSetParams{Name: "solo", Concurrency: intp(1)})
	p := newJob("solo")
	p.Backoff = 0
	id := insertOne(t, s, p)
	claimOne(t, s, t0, "solo")
	now := t0.Add(time.Minute)
	handed, res := expire(t, s, now, 1, "host-b:7")
	if len(handed) != 1 || len(res.Expired) != 1 || res.Expired[0].State != queue.StateRetrying {
		t.Fatalf("handed %d jobs, recorded %+v; want job %d retrying", len(handed), res.Expired, id)
	}
	if len(res.Jobs) != 1 || res.Jobs[0].ID != id || res.Jobs[0].Run != 2 || res.Jobs[0].Worker != "host-b:7" {
		t.Fatalf("claimed %d jobs in the same call; want job %d again, run 2, by host-b:7", len(res.Jobs), id)
	}
	if as := attempts(t, s, id); len(as) != 2 || as[0].Error != "worker lost: lease expired" || !as[1].FinishedAt.IsZero() {
		t.Errorf("history = %+v, want the lost attempt and a running one", as)
	}
}

// Without an Expired func, JobClaim leaves expired leases alone.
func testExpiredLeaseNeedsFunc(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	claimOne(t, s, t0, "default")
	before := get(t, s, id)
	res := claim(t, s, queue.JobClaimParams{Limit: 10, Now: t0.Add(time.Hour)})
	if len(res.Expired) != 0 || len(res.Jobs) != 0 {
		t.Errorf("without Expired: recorded %+v, claimed %d jobs", res.Expired, len(res.Jobs))
	}
	checkJob(t, get(t, s, id), before)
}

// NextRunAt is when the earliest job that waits for its time (scheduled,
// or retrying after its backoff) in the claimed queues falls due.
func testNextRunAt(t *testing.T, s queue.Store) {
	at := func(q string, st queue.State, d time.Duration) queue.JobInsertParams {
		p := newJob(q)
		p.State, p.RunAt = st, t0.Add(d)
		return p
	}
	dep := insertOne(t, s, newJob("q1"))
	claimOne(t, s, t0, "q1") // stays running, for the waiting job below
	hour := insertOne(t, s, at("q1", queue.StateScheduled, time.Hour))
	retry := insertOne(t, s, newJob("q2"))
	j := claimOne(t, s, t0, "q2")
	finish(t, s, t0, queue.JobFinishParams{ID: retry, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t0.Add(30 * time.Minute), FinishedAt: t0, ExitCode: intp(1)})
	soon := insertOne(t, s, at("q3", queue.StateScheduled, 10*time.Minute))
	// Neither a job waiting for a dependency nor a cancelled one falls due.
	waiting := insertOne(t, s, after(at("q3", queue.StateScheduled, 5*time.Minute), dep))
	gone := insertOne(t, s, at("q3", queue.StateScheduled, 5*time.Minute))
	cancel(t, s, t0, gone)
	due := insertOne(t, s, at("q4", queue.StateScheduled, 0))
	// A job due at Now that a pause keeps from running is not next either:
	// a worker told to look again at Now would spin.
	insertOne(t, s, at("paused", queue.StateScheduled, 0))
	queueSet(t, s, queue.QueueSetParams{Name: "paused", Paused: boolp(true)})
	if st := get(t, s, waiting).State; st != queue.StateWaiting {
		t.Fatalf("job with a running dependency is %s, want waiting", st)
	}

	steps := []struct {
		now     time.Time
		queues  []string
		claimed []int64
		next    time.Time
	}{
		{t0, []string{"q1", "q2"}, nil, t0.Add(30 * time.Minute)},
		{t0, []string{"q1"}, nil, t0.Add(time.Hour)},
		{t0, []string{"q4"}, []int64{due}, time.Time{}}, // due at Now: claimed, not next
		{t0, []string{"nothing-here"}, nil, time.Time{}},
		{t0, nil, nil, t0.Add(10 * time.Minute)},
		{t0.Add(10 * time.Minute), nil, []int64{soon}, t0.Add(30 * time.Minute)},
		{t0.Add(30 * time.Minute), nil, []int64{retry}, t0.Add(time.Hour)},
		{t0.Add(time.Hour), nil, []int64{hour}, time.Time{}},
	}
	for _, st := range steps {
		res := claim(t, s, queue.JobClaimParams{Queues: st.queues, Limit: 10, Now: st.now})
		var ids []int64
		for _, j := range res.Jobs {
			ids = append(ids, j.ID)
		}
		if !slices.Equal(ids, st.claimed) || !sameTime(res.NextRunAt, st.next) {
			t.Errorf("claim of %v at t0%+v: claimed %v, NextRunAt %v; want %v, %v", st.queues, st.now.Sub(t0), ids, res.NextRunAt, st.claimed, st.next)
		}
	}
}

func testQueueSettings(t *testing.T, s queue.Store) {
	if qs := queueList(t, s); len(qs) != 0 {
		t.Errorf("QueueList of a new store = %+v, want none", qs)
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
			t.Errorf("after QueueSet(%s: paused %v, concurrency %v, rate %v per %v):\nQueueList = %+v\n     want %+v",
				st.set.Name, st.set.Paused, st.set.Concurrency, st.set.Rate, st.set.RatePeriod, got, []queue.QueueSettings{st.want})
		}
	}
	queueSet(t, s, queue.QueueSetParams{Name: "batch", Paused: boolp(true)})
	want := []queue.QueueSettings{{Name: "batch", Paused: true}, steps[len(steps)-1].want}
	if got := queueList(t, s); !slices.Equal(got, want) {
		t.Errorf("QueueList = %+v, want %+v", got, want)
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

// jobq cancel of a running job asks its worker to stop it: the heartbeat
// says so, and the job ends cancelled when its worker records that.
func testHeartbeatCancel(t *testing.T, s queue.Store) {
	insert(t, s, newJob("default"), newJob("default"))
	res := claim(t, s, queue.JobClaimParams{Limit: 2, Now: t0})
	a, b := res.Jobs[0], res.Jobs[1]
	now := t0.Add(5 * time.Second)
	if got := cancel(t, s, now, a.ID); got[0] != (queue.JobCancelResult{ID: a.ID, State: queue.StateRunning, Found: true}) {
		t.Errorf("JobCancel = %+v, want it found running", got[0])
	}
	got := get(t, s, a.ID)
	if got.State != queue.StateRunning || !got.CancelRequested || !got.FinishedAt.IsZero() || got.Worker != worker {
		t.Errorf("cancelled running job: %s, cancel requested %v, finished %v, worker %q; want still running, asked to stop",
			got.State, got.CancelRequested, got.FinishedAt, got.Worker)
	}
	if get(t, s, b.ID).CancelRequested {
		t.Errorf("job %d was asked to stop too", b.ID)
	}
	for range 2 { // it keeps asking until the worker records the end
		lease := now.Add(30 * time.Second)
		hb := heartbeat(t, s, worker, lease, a, b)
		if len(hb.Lost) != 0 || !slices.Equal(hb.Cancel, []int64{a.ID}) {
			t.Errorf("heartbeat = lost %v, cancel %v; want none lost, cancel [%d]", hb.Lost, hb.Cancel, a.ID)
		}
		if l := get(t, s, a.ID).LeaseUntil; !l.Equal(lease) {
			t.Errorf("lease of the job asked to stop = %v, want renewed to %v", l, lease)
		}
	}
	if ids := claimIDs(t, s, now, 10); len(ids) != 0 {
		t.Errorf("claimed %v", ids)
	}

	end := now.Add(time.Second)
	p := queue.Decide(a, queue.Result{Cancelled: true, Signal: "SIGTERM", Error: queue.ErrCancelled.Error(), FinishedAt: end}, 0.5)
	finish(t, s, end, p)
	got = get(t, s, a.ID)
	if got.State != queue.StateCancelled || !got.FinishedAt.Equal(end) || got.Attempts != 1 || got.Worker != "" {
		t.Errorf("after its worker stopped it: %s, finished %v, attempts %d, worker %q; want cancelled at %v, 1, none",
			got.State, got.FinishedAt, got.Attempts, got.Worker, end)
	}
	as := attempts(t, s, a.ID)
	if len(as) != 1 {
		t.Fatalf("history has %d attempts, want 1", len(as))
	}
	checkAttempt(t, as[0], queue.Attempt{JobID: a.ID, Run: 1, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, Signal: "SIGTERM", Error: queue.ErrCancelled.Error()})
	if hb := heartbeat(t, s, worker, end.Add(time.Minute), a, b); !slices.Equal(hb.Lost, []int64{a.ID}) || len(hb.Cancel) != 0 {
		t.Errorf("heartbeat after the end = lost %v, cancel %v; want lost [%d]", hb.Lost, hb.Cancel, a.ID)
	}
	if got := get(t, s, b.ID); got.State != queue.StateRunning || got.CancelRequested {
		t.Errorf("the other job: %s, cancel requested %v; want running, not asked", got.State, got.CancelRequested)
	}
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
			if !got.CancelRequested {
				t.Errorf("the running job was not asked to stop")
			}
		default:
			want.State, want.FinishedAt, want.LastError = queue.StateCancelled, now, got.LastError
		}
		checkJob(t, got, &want)
	}
	if got := claimIDs(t, s, now.Add(2*time.Hour), 100); len(got) != 0 {
		t.Errorf("claimed %v after cancelling every job", got)
	}
}

// A job with dependencies waits until all of them succeeded, then runs
// as inserted: now, or at its run_at.
func testAfterWaits(t *testing.T, s queue.Store) {
	a := insertOne(t, s, newJob("a"))
	b := insertOne(t, s, newJob("b"))
	c := insertOne(t, s, after(newJob("c"), a, b))
	later := newJob("d")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Hour)
	d := insertOne(t, s, after(later, a))
	for _, tt := range []struct {
		id   int64
		deps []int64
	}{{a, nil}, {b, nil}, {c, []int64{a, b}}, {d, []int64{a}}} {
		st := queue.StatePending
		if tt.deps != nil {
			st = queue.StateWaiting
		}
		got := get(t, s, tt.id)
		if got.State != st || !slices.Equal(slices.Sorted(slices.Values(got.DependsOn)), tt.deps) {
			t.Errorf("JobGet(%d): %s, depends on %v; want %s, %v", tt.id, got.State, got.DependsOn, st, tt.deps)
		}
		jobs, err := s.JobList(t.Context(), queue.JobListParams{Queues: []string{got.Queue}, Now: t0})
		if err != nil || len(jobs) != 1 || !slices.Equal(slices.Sorted(slices.Values(jobs[0].DependsOn)), tt.deps) {
			t.Errorf("JobList of job %d: %d jobs, %v; want it, depending on %v", tt.id, len(jobs), err, tt.deps)
		} else if jobs[0].State != st {
			t.Errorf("JobList: job %d is %s, want %s", tt.id, jobs[0].State, st)
		}
	}
	if got := list(t, s, queue.JobListParams{States: []queue.State{queue.StateWaiting}, Now: t0}); !slices.Equal(got, []int64{d, c}) {
		t.Errorf("JobList(waiting) = %v, want %v", got, []int64{d, c})
	}
	if got := claimIDs(t, s, t0.Add(2*time.Hour), 10, "c", "d"); len(got) != 0 {
		t.Fatalf("claimed %v while their dependencies had not run", got)
	}

	// a fails once: still waiting.
	ja := claimOne(t, s, t0, "a")
	t1 := t0.Add(time.Second)
	finish(t, s, t1, queue.JobFinishParams{ID: a, Run: ja.Run, State: queue.StateRetrying, Attempts: 1, RunAt: t1, FinishedAt: t1, ExitCode: intp(1)})
	for _, id := range []int64{c, d} {
		if st := get(t, s, id).State; st != queue.StateWaiting {
			t.Errorf("job %d is %s after its dependency failed once, want waiting", id, st)
		}
	}
	t2 := t0.Add(2 * time.Second)
	succeed(t, s, t2, "a")
	if got := get(t, s, c); got.State != queue.StateWaiting {
		t.Errorf("job %d is %s with one of two dependencies succeeded, want waiting", c, got.State)
	}
	if got := get(t, s, d); got.State != queue.StateScheduled || !got.RunAt.Equal(later.RunAt) {
		t.Errorf("job %d is %s at %v once its dependency succeeded, want scheduled at %v", d, got.State, got.RunAt, later.RunAt)
	}
	t3 := t0.Add(3 * time.Second)
	succeed(t, s, t3, "b")
	if got := get(t, s, c); got.State != queue.StatePending {
		t.Errorf("job %d is %s once all its dependencies succeeded, want pending", c, got.State)
	}
	if got := claimIDs(t, s, t3, 10, "c", "d"); !slices.Equal(got, []int64{c}) {
		t.Errorf("claimed %v, want %v", got, []int64{c})
	}
	if got := claimIDs(t, s, later.RunAt, 10, "c", "d"); !slices.Equal(got, []int64{d}) {
		t.Errorf("claimed %v at its run_at, want %v", got, []int64{d})
	}
}

// A dependency that ends dead or cancelled cancels the jobs waiting for
// it, and the jobs waiting for those, each saying why.
func testAfterFailedCancelsChain(t *testing.T, s queue.Store) {
	a := insertOne(t, s, newJob("a"))
	b := insertOne(t, s, after(newJob("b"), a))
	c := insertOne(t, s, after(newJob("c"), b))
	other := insertOne(t, s, newJob("other"))
	d := insertOne(t, s, after(newJob("d"), other, a))
	e := insertOne(t, s, newJob("e"))
	f := insertOne(t, s, after(newJob("f"), e))
	g := insertOne(t, s, after(newJob("g"), f))
	h := insertOne(t, s, newJob("h"))
	i := insertOne(t, s, after(newJob("i"), h))

	end := t0.Add(time.Second)
	fail(t, s, end, "a")
	cancel(t, s, end, e)
	jh := claimOne(t, s, t0, "h")
	finish(t, s, end, queue.Decide(jh, queue.Result{Cancelled: true, Error: queue.ErrCancelled.Error(), FinishedAt: end}, 0.5))

	for _, tt := range []struct {
		id, dep int64
		why     string
	}{
		{b, a, "dead"}, {c, b, "cancelled"}, {d, a, "dead"},
		{f, e, "cancelled by JobCancel"}, {g, f, "cancelled"},
		{i, h, "cancelled by its worker"},
	} {
		got := get(t, s, tt.id)
		if got.State != queue.StateCancelled || !got.FinishedAt.Equal(end) || !names(got.LastError, tt.dep) {
			t.Errorf("job %d, after its dependency %d (%s): %s, finished %v, error %q; want cancelled at %v, naming %d",
				tt.id, tt.dep, tt.why, got.State, got.FinishedAt, got.LastError, end, tt.dep)
		}
	}
	if st := get(t, s, other).State; st != queue.StatePending {
		t.Errorf("the other dependency is %s, want pending", st)
	}
	if got := claimIDs(t, s, end, 10, "b", "c", "d", "f", "g", "i"); len(got) != 0 {
		t.Errorf("claimed cancelled jobs %v", got)
	}
}

// Dependencies already settled when a job is inserted settle it at once,
// each job of a batch by its own.
func testAfterSettledAtInsert(t *testing.T, s queue.Store) {
	ok := insertOne(t, s, newJob("ok"))
	succeed(t, s, t0, "ok")
	dead := insertOne(t, s, newJob("dead"))
	fail(t, s, t0, "dead")
	gone := insertOne(t, s, newJob("gone"))
	cancel(t, s, t0, gone)
	running := insertOne(t, s, newJob("running"))
	claimOne(t, s, t0, "running")

	later := newJob("x")
	later.State, later.RunAt = queue.StateScheduled, t0.Add(time.Hour)
	now := t0.Add(time.Minute)
	batch := []queue.JobInsertParams{
		newJob("x"),
		after(newJob("x"), ok),
		after(later, ok),
		after(newJob("x"), dead),
		after(newJob("x"), gone),
		after(newJob("x"), ok, dead),
		after(newJob("x"), ok, running),
		after(newJob("x"), ok),
	}
	for i := range batch {
		batch[i].CreatedAt = now
	}
	ids := insert(t, s, batch...)
	want := []struct {
		state queue.State
		named int64 // the dependency LastError names; 0: no error
	}{
		{queue.StatePending, 0},
		{queue.StatePending, 0},
		{queue.StateScheduled, 0},
		{queue.StateCancelled, dead},
		{queue.StateCancelled, gone},
		{queue.StateCancelled, dead},
		{queue.StateWaiting, 0},
		{queue.StatePending, 0},
	}
	for i, w := range want {
		got := get(t, s, ids[i])
		switch {
		case got.State != w.state:
			t.Errorf("job %d of the batch is %s, want %s", i, got.State, w.state)
		case w.named != 0 && (!names(got.LastError, w.named) || got.FinishedAt.IsZero()):
			t.Errorf("job %d of the batch: error %q, finished %v; want an error naming %d and a finish time", i, got.LastError, got.FinishedAt, w.named)
		case w.named == 0 && (got.LastError != "" || !got.FinishedAt.IsZero()):
			t.Errorf("job %d of the batch: error %q, finished %v; want neither", i, got.LastError, got.FinishedAt)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got.DependsOn)), batch[i].After) {
			t.Errorf("job %d of the batch depends on %v, want %v", i, got.DependsOn, batch[i].After)
		}
	}
	if !slices.Equal(batch[1].After, []int64{ok}) || batch[1].State != queue.StatePending || batch[6].State != queue.StatePending {
		t.Errorf("JobInsert changed its params: %+v", batch)
	}
}

// A dependency that does not exist fails the whole insert.
func testAfterMissing(t *testing.T, s queue.Store) {
	a := insertOne(t, s, newJob("a"))
	ids, err := s.JobInsert(t.Context(), []queue.JobInsertParams{newJob("b"), after(newJob("c"), a, a+1000)})
	if !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobInsert after a missing job = %v, %v; want ErrNotFound", ids, err)
	}
	if got := list(t, s, queue.JobListParams{Now: t0}); !slices.Equal(got, []int64{a}) {
		t.Errorf("jobs after the failed insert: %v, want only %v", got, []int64{a})
	}
	if b := insertOne(t, s, newJob("b")); b <= a {
		t.Errorf("next ID %d after %d", b, a)
	}
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
