package queuetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Leases: heartbeats, and the jobs of lost workers taken back.
var leasesTests = []suiteTest{
	{"Heartbeat", testHeartbeat},
	{"ExpiredLeaseRetrying", testExpiredLeaseRetrying},
	{"ExpiredLeaseDeadOnLastAttempt", testExpiredLeaseDeadOnLastAttempt},
	{"ExpiredLeaseCancelled", testExpiredLeaseCancelled},
	{"ExpiredLeaseRecordedBeforeClaim", testExpiredLeaseRecordedBeforeClaim},
	{"ExpiredLeaseNeedsFunc", testExpiredLeaseNeedsFunc},
	{"ExpiredLeaseOwnOutcomeLost", testExpiredLeaseOwnOutcomeLost},
	{"HeartbeatCancel", testHeartbeatCancel},
}

func testHeartbeat(t *testing.T, s queue.Store) {
	ids := insert(t, s, newJob("default"), newJob("default"), newJob("done"))
	res := claim(t, s, queue.JobClaimParams{Limit: 2, Now: t0, Queues: []string{"default"}, LeaseUntil: t0.Add(30 * time.Second)})
	if len(res.Jobs) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(res.Jobs))
	}
	a, b := res.Jobs[0], res.Jobs[1]
	d := claimOne(t, s, t0, "done")
	finish(t, s, t0, queue.JobFinishParams{ID: d.ID, Run: d.Run, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0, ExitCode: intp(0)})

	lease := t0.Add(40 * time.Second)
	hb, err := s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{
		Worker: worker, LeaseUntil: lease,
		Jobs: []queue.JobRef{{ID: a.ID, Run: a.Run}, {ID: b.ID, Run: b.Run}},
	})
	if err != nil || len(hb.Lost) != 0 || len(hb.Cancel) != 0 {
		t.Fatalf("JobHeartbeat = %+v, %v; want nothing lost", hb, err)
	}
	for _, id := range ids[:2] {
		if got := get(t, s, id).LeaseUntil; !got.Equal(lease) {
			t.Errorf("job %d lease until %v, want %v", id, got, lease)
		}
	}

	later := t0.Add(50 * time.Second)
	hb, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{
		Worker: worker, LeaseUntil: later,
		Jobs: []queue.JobRef{
			{ID: a.ID, Run: a.Run + 1}, // a run it never had
			{ID: b.ID, Run: b.Run},     // still held
			{ID: d.ID, Run: d.Run},     // finished
			{ID: ids[2] + 1000, Run: 1},
		},
	})
	if want := []int64{a.ID, d.ID, ids[2] + 1000}; err != nil || !slices.Equal(hb.Lost, want) {
		t.Errorf("JobHeartbeat = lost %v, %v; want %v", hb.Lost, err, want)
	}
	if got := get(t, s, a.ID).LeaseUntil; !got.Equal(lease) {
		t.Errorf("lease of job %d under a wrong run moved to %v", a.ID, got)
	}
	if got := get(t, s, b.ID).LeaseUntil; !got.Equal(later) {
		t.Errorf("lease of job %d = %v, want %v", b.ID, got, later)
	}

	hb, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{
		Worker: "host-b:7", LeaseUntil: later.Add(time.Minute),
		Jobs: []queue.JobRef{{ID: b.ID, Run: b.Run}},
	})
	if err != nil || !slices.Equal(hb.Lost, []int64{b.ID}) {
		t.Errorf("JobHeartbeat by another worker = lost %v, %v; want [%d]", hb.Lost, err, b.ID)
	}
	if got := get(t, s, b.ID); !got.LeaseUntil.Equal(later) || got.Worker != worker {
		t.Errorf("another worker's heartbeat changed the job: lease %v worker %q", got.LeaseUntil, got.Worker)
	}

	hb, err = s.JobHeartbeat(t.Context(), queue.JobHeartbeatParams{Worker: worker, LeaseUntil: later})
	if err != nil || len(hb.Lost) != 0 {
		t.Errorf("JobHeartbeat of no jobs = %+v, %v", hb, err)
	}
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
	checkAttempt(t, as[0], queue.Attempt{JobID: lost.ID, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: now, Error: "worker lost: lease expired"})

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

// A claim's own outcome for a job whose lease expired is lost; the
// expiry is recorded: leases are taken back before outcomes are
// recorded, so the job runs again whatever its worker reports late.
func testExpiredLeaseOwnOutcomeLost(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	j := claimOne(t, s, t0, "default") // leased for 30s
	later := t0.Add(time.Minute)
	res := claim(t, s, queue.JobClaimParams{
		Finish: []queue.JobFinishParams{{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts,
			FinishedAt: later, ExitCode: intp(0), Output: []byte{}}},
		Limit: 1, Now: later,
		Expired: func(job *queue.Job) queue.JobFinishParams { return queue.LeaseExpired(job, later, 0.5) },
	})
	if !slices.Equal(res.Lost, []int64{id}) || len(res.Expired) != 1 || res.Expired[0].ID != id {
		t.Fatalf("lost %v, expired %+v; want job %d lost and its lease expiry recorded", res.Lost, res.Expired, id)
	}
	if as := attempts(t, s, id); len(as) == 0 || as[0].Error != "worker lost: lease expired" {
		t.Errorf("history = %+v, want the first attempt lost to its lease", as)
	}
	if got := get(t, s, id); got.State == queue.StateSucceeded {
		t.Errorf("job %d succeeded: the late outcome was recorded over its expiry", id)
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
	checkAttempt(t, as[0], queue.Attempt{JobID: a.ID, Attempt: 1, Worker: worker, StartedAt: t0, FinishedAt: end, Signal: "SIGTERM", Error: queue.ErrCancelled.Error()})
	if hb := heartbeat(t, s, worker, end.Add(time.Minute), a, b); !slices.Equal(hb.Lost, []int64{a.ID}) || len(hb.Cancel) != 0 {
		t.Errorf("heartbeat after the end = lost %v, cancel %v; want lost [%d]", hb.Lost, hb.Cancel, a.ID)
	}
	if got := get(t, s, b.ID); got.State != queue.StateRunning || got.CancelRequested {
		t.Errorf("the other job: %s, cancel requested %v; want running, not asked", got.State, got.CancelRequested)
	}
}
