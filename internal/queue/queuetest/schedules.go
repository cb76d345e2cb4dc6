package queuetest

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Schedules: kept as given, fired once per tick however many fire at
// once, one job after downtime, the overlap policies, pause and health.
var schedulesTests = []suiteTest{
	{"ScheduleRoundTrip", testScheduleRoundTrip},
	{"ScheduleNameInUse", testScheduleNameInUse},
	{"ScheduleReplace", testScheduleReplace},
	{"ScheduleFireOnce", testScheduleFireOnce},
	{"ScheduleFireConcurrent", testScheduleFireConcurrent},
	{"ScheduleCatchUp", testScheduleCatchUp},
	{"ScheduleOverlap", testScheduleOverlap},
	{"SchedulePause", testSchedulePause},
	{"ScheduleDelete", testScheduleDelete},
	{"ScheduleHealth", testScheduleHealth},
	{"ScheduleHealthOutlivesJobs", testScheduleHealthOutlivesJobs},
	{"ScheduleHealthFollowsTicks", testScheduleHealthFollowsTicks},
	{"ScheduleActiveSince", testScheduleActiveSince},
}

// newSchedule is a schedule of q every minute whose next tick is t0.
func newSchedule(name string) queue.Schedule {
	job := newJob(name)
	job.State, job.RunAt, job.CreatedAt = "", time.Time{}, time.Time{}
	return queue.Schedule{
		Name: name, Expr: "* * * * *", Zone: "UTC", Overlap: queue.OverlapAllow,
		Job: job, NextAt: t0, DueAt: t0,
	}
}

func addSchedule(t *testing.T, s queue.Store, scs ...queue.Schedule) []int64 {
	t.Helper()
	params := make([]queue.ScheduleAddParams, len(scs))
	for i, sc := range scs {
		params[i] = queue.ScheduleAddParams{Schedule: sc, Now: t0.Add(-time.Hour)}
	}
	ids, err := s.ScheduleAdd(t.Context(), params)
	if err != nil {
		t.Fatalf("ScheduleAdd: %v", err)
	}
	return ids
}

func getSchedule(t *testing.T, s queue.Store, name string) *queue.Schedule {
	t.Helper()
	sc, err := s.ScheduleGet(t.Context(), name)
	if err != nil {
		t.Fatalf("ScheduleGet(%q): %v", name, err)
	}
	return sc
}

func fire(t *testing.T, s queue.Store, now time.Time) *queue.ScheduleFireResult {
	t.Helper()
	res, err := s.ScheduleFire(t.Context(), queue.ScheduleFireParams{Now: now, Jitter: func() float64 { return 0 }})
	if err != nil {
		t.Fatalf("ScheduleFire: %v", err)
	}
	return res
}

func scheduleJobs(t *testing.T, s queue.Store, id int64) []int64 {
	t.Helper()
	return list(t, s, queue.JobFilter{ScheduleID: id, Now: t0})
}

func testScheduleRoundTrip(t *testing.T, s queue.Store) {
	sc := newSchedule("nightly")
	sc.Expr, sc.Zone, sc.Overlap = "30 2 * * *", "Europe/Berlin", queue.OverlapReplace
	sc.Jitter, sc.Description, sc.DueAt = 90*time.Second+500*time.Millisecond, "back up the database", t0.Add(time.Minute)
	sc.Job.Priority, sc.Job.Env, sc.Job.Timeout = 5, []string{"A=1", "B=two words"}, time.Hour
	sc.Job.Argv, sc.Job.Command = []string{"/usr/bin/backup", "a b"}, "/usr/bin/backup 'a b'"
	sc.Job.PermanentExit, sc.Job.MaxAttempts = []int{3, 64}, 5
	id := addSchedule(t, s, sc)[0]
	got := getSchedule(t, s, "nightly")
	if got.ID != id || got.Name != sc.Name || got.Expr != sc.Expr || got.Zone != sc.Zone ||
		got.Overlap != sc.Overlap || got.Jitter != sc.Jitter || got.Description != sc.Description ||
		got.Paused || !got.NextAt.Equal(sc.NextAt) || !got.DueAt.Equal(sc.DueAt) ||
		!got.CreatedAt.Equal(t0.Add(-time.Hour)) || !got.ActiveSince.Equal(t0.Add(-time.Hour)) ||
		got.LastJob != nil || got.Failures != 0 {
		t.Errorf("ScheduleGet = %+v, want %+v", got, sc)
	}
	j, w := got.Job, sc.Job
	if j.Queue != w.Queue || j.Priority != w.Priority || j.Command != w.Command || !slices.Equal(j.Argv, w.Argv) ||
		j.Dir != w.Dir || !slices.Equal(j.Env, w.Env) || j.MaxAttempts != w.MaxAttempts || j.Timeout != w.Timeout ||
		j.Backoff != w.Backoff || j.MaxBackoff != w.MaxBackoff || !slices.Equal(j.PermanentExit, w.PermanentExit) {
		t.Errorf("ScheduleGet's job = %+v, want %+v", j, w)
	}
	all, err := s.ScheduleList(t.Context())
	if err != nil || len(all) != 1 || all[0].Name != "nightly" {
		t.Fatalf("ScheduleList = %v, %v; want nightly", all, err)
	}
	if _, err := s.ScheduleGet(t.Context(), "other"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("ScheduleGet of a missing schedule: %v, want ErrNotFound", err)
	}
}

func testScheduleNameInUse(t *testing.T, s queue.Store) {
	addSchedule(t, s, newSchedule("a"))
	changed := newSchedule("a")
	changed.Expr = "@daily"
	_, err := s.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{
		{Schedule: newSchedule("b"), Now: t0}, {Schedule: changed, Now: t0},
	})
	if !errors.Is(err, queue.ErrExists) {
		t.Fatalf("ScheduleAdd of a name in use: %v, want ErrExists", err)
	}
	// All or nothing: b was not added, a not changed.
	if _, err := s.ScheduleGet(t.Context(), "b"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("b after a failed ScheduleAdd: %v, want ErrNotFound", err)
	}
	if got := getSchedule(t, s, "a"); got.Expr != "* * * * *" {
		t.Errorf("a's expression = %q, changed by a failed ScheduleAdd", got.Expr)
	}
}

func testScheduleReplace(t *testing.T, s queue.Store) {
	first := newSchedule("a")
	first.Description = "Nightly backup"
	id := addSchedule(t, s, first)[0]
	fire(t, s, t0)
	paused := true
	if err := s.ScheduleSet(t.Context(), queue.ScheduleSetParams{Name: "a", Paused: paused, Now: t0}); err != nil {
		t.Fatal(err)
	}
	changed := newSchedule("a")
	changed.Expr, changed.Job.Command = "@daily", "echo new"
	ids, err := s.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: changed, Replace: true, Now: t0}})
	if err != nil || ids[0] != id {
		t.Fatalf("ScheduleAdd with Replace = %v, %v; want ID %d", ids, err, id)
	}
	got := getSchedule(t, s, "a")
	if got.Expr != "@daily" || got.Job.Command != "echo new" || !got.Paused || got.LastJob == nil {
		t.Errorf("replaced schedule = %+v; want the new settings, still paused, its job kept", got)
	}
	if got.Description != "Nightly backup" {
		t.Errorf("replaced without a description: description %q, want the old one kept", got.Description)
	}
	changed.Description = "Nightly backup, compressed"
	if _, err := s.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: changed, Replace: true, Now: t0}}); err != nil {
		t.Fatal(err)
	}
	if got := getSchedule(t, s, "a"); got.Description != changed.Description {
		t.Errorf("replaced with a description: %q, want %q", got.Description, changed.Description)
	}
}

func testScheduleFireOnce(t *testing.T, s queue.Store) {
	id := addSchedule(t, s, newSchedule("a"))[0]
	if res := fire(t, s, t0.Add(-time.Millisecond)); len(res.Fired) != 0 || !res.NextDueAt.Equal(t0) {
		t.Fatalf("fire before due = %+v, want nothing and NextDueAt %v", res, t0)
	}
	now := t0.Add(2 * time.Second)
	res := fire(t, s, now)
	if len(res.Fired) != 1 || res.Fired[0].JobID == 0 || !res.Fired[0].Tick.Equal(t0) {
		t.Fatalf("fire = %+v, want one job for tick %v", res, t0)
	}
	next := t0.Truncate(time.Minute).Add(time.Minute)
	if !res.NextDueAt.Equal(next) {
		t.Errorf("NextDueAt = %v, want %v", res.NextDueAt, next)
	}
	j := get(t, s, res.Fired[0].JobID)
	if j.ScheduleID != id || !j.ScheduleTick.Equal(t0) || j.State != queue.StatePending || j.Command != "true" || !j.CreatedAt.Equal(now) {
		t.Errorf("fired job = %+v; want schedule %d, tick %v, pending", j, id, t0)
	}
	if res := fire(t, s, now); len(res.Fired) != 0 {
		t.Errorf("second fire of the same tick = %+v, want nothing", res.Fired)
	}
	if got := scheduleJobs(t, s, id); len(got) != 1 {
		t.Errorf("jobs of the schedule = %v, want 1", got)
	}
}

// testScheduleFireConcurrent fires one tick from many goroutines of one
// Store. That a Store serializes its own firings is all it shows: whether
// the compare-and-set on the next tick decides between firings that read
// the same row is a store's own test (sqlite: TestScheduleFireStaleRow,
// and TestScheduleFireTwoStores for two processes).
func testScheduleFireConcurrent(t *testing.T, s queue.Store) {
	id := addSchedule(t, s, newSchedule("a"))[0]
	now := t0.Add(time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := s.ScheduleFire(t.Context(), queue.ScheduleFireParams{Now: now, Jitter: func() float64 { return 0.5 }})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, queue.ErrBusy) {
			t.Errorf("ScheduleFire: %v", err)
		}
	}
	if got := scheduleJobs(t, s, id); len(got) != 1 {
		t.Errorf("8 concurrent firings of one tick made jobs %v, want 1", got)
	}
}

func testScheduleCatchUp(t *testing.T, s queue.Store) {
	id := addSchedule(t, s, newSchedule("a"))[0]
	// Down for an hour and a half: ticks every minute from t0 missed.
	now := t0.Add(90 * time.Minute)
	res := fire(t, s, now)
	if len(res.Fired) != 1 {
		t.Fatalf("fire after downtime = %+v, want one", res.Fired)
	}
	f := res.Fired[0]
	latest := now.Truncate(time.Minute)
	if !f.Tick.Equal(latest) || f.Missed != 90 {
		t.Errorf("fired tick %v, %d missed; want %v, 90 missed", f.Tick, f.Missed, latest)
	}
	if got := scheduleJobs(t, s, id); len(got) != 1 {
		t.Errorf("jobs after downtime = %v, want 1", got)
	}
	if j := get(t, s, f.JobID); !j.ScheduleTick.Equal(latest) {
		t.Errorf("job's tick = %v, want %v", j.ScheduleTick, latest)
	}
	if want := latest.Add(time.Minute); !res.NextDueAt.Equal(want) {
		t.Errorf("NextDueAt = %v, want %v", res.NextDueAt, want)
	}
}

func testScheduleOverlap(t *testing.T, s queue.Store) {
	for _, o := range []queue.Overlap{queue.OverlapSkip, queue.OverlapAllow, queue.OverlapReplace} {
		sc := newSchedule("o-" + string(o))
		sc.Overlap = o
		addSchedule(t, s, sc)
	}
	first := fire(t, s, t0)
	if len(first.Fired) != 3 {
		t.Fatalf("first fire = %+v, want 3", first.Fired)
	}
	prev := map[string]int64{}
	for _, f := range first.Fired {
		prev[f.Schedule] = f.JobID
	}
	running := claimOne(t, s, t0, "o-replace") // the replaced job runs: asked to stop
	eventsBefore := lastEventID(t, s)
	second := fire(t, s, t0.Add(time.Minute))
	got := map[string]queue.ScheduleFired{}
	for _, f := range second.Fired {
		got[f.Schedule] = f
	}
	if f := got["o-skip"]; !f.Skipped || f.JobID != 0 || f.Previous != prev["o-skip"] {
		t.Errorf("skip: %+v, want skipped for job %d", f, prev["o-skip"])
	}
	if f := got["o-allow"]; f.Skipped || f.JobID == 0 {
		t.Errorf("allow: %+v, want a job", f)
	}
	if f := got["o-replace"]; f.Skipped || f.JobID == 0 || f.Previous != running.ID {
		t.Errorf("replace: %+v, want a job replacing %d", f, running.ID)
	}
	if j := get(t, s, running.ID); !j.CancelRequested {
		t.Errorf("replaced running job: CancelRequested false, want true")
	}
	if j := get(t, s, prev["o-allow"]); j.State != queue.StatePending {
		t.Errorf("allow's first job is %s, want pending still", j.State)
	}
	events, err := s.EventList(t.Context(), queue.EventListParams{AfterID: eventsBefore, JobID: prev["o-skip"]})
	if err != nil || len(events) != 1 {
		t.Fatalf("events of the skipping job = %+v, %v; want one", events, err)
	}
	if e := events[0]; e.Schedule != "o-skip" || e.From != queue.StatePending || e.To != queue.StatePending || !strings.Contains(e.Error, "skipped") {
		t.Errorf("skip event = %+v", e)
	}
	// Once the previous job ended, skip enqueues again; replace of a job
	// not running cancels it at once.
	cancel(t, s, t0, prev["o-skip"])
	third := fire(t, s, t0.Add(2*time.Minute))
	// The checks below run per fired schedule: without all three, they
	// would pass on none.
	if len(third.Fired) != 3 {
		t.Fatalf("third fire = %+v, want all 3 schedules", third.Fired)
	}
	for _, f := range third.Fired {
		if f.Skipped || f.JobID == 0 {
			t.Errorf("third fire of %s = %+v, want a job", f.Schedule, f)
		}
	}
	if j := get(t, s, got["o-replace"].JobID); j.State != queue.StateCancelled {
		t.Errorf("replaced pending job is %s, want cancelled", j.State)
	}
}

func testSchedulePause(t *testing.T, s queue.Store) {
	addSchedule(t, s, newSchedule("a"))
	if err := s.ScheduleSet(t.Context(), queue.ScheduleSetParams{Name: "a", Paused: true, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if res := fire(t, s, t0.Add(time.Hour)); len(res.Fired) != 0 || !res.NextDueAt.IsZero() {
		t.Errorf("fire of a paused schedule = %+v, want nothing, no NextDueAt", res)
	}
	next := t0.Add(2 * time.Hour)
	if err := s.ScheduleSet(t.Context(), queue.ScheduleSetParams{Name: "a", NextAt: next, DueAt: next, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if res := fire(t, s, t0.Add(time.Hour)); len(res.Fired) != 0 || !res.NextDueAt.Equal(next) {
		t.Errorf("fire of a resumed schedule before its tick = %+v, want NextDueAt %v", res, next)
	}
	if err := s.ScheduleSet(t.Context(), queue.ScheduleSetParams{Name: "b", Paused: true}); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("pause of a missing schedule: %v, want ErrNotFound", err)
	}
}

func testScheduleDelete(t *testing.T, s queue.Store) {
	id := addSchedule(t, s, newSchedule("a"))[0]
	fire(t, s, t0)
	if err := s.ScheduleDelete(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.ScheduleDelete(t.Context(), "a"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if res := fire(t, s, t0.Add(time.Hour)); len(res.Fired) != 0 {
		t.Errorf("a deleted schedule fired: %+v", res.Fired)
	}
	if got := scheduleJobs(t, s, id); len(got) != 1 {
		t.Errorf("jobs of the deleted schedule = %v, want its one job kept", got)
	}
}

func testScheduleHealth(t *testing.T, s queue.Store) {
	addSchedule(t, s, newSchedule("a"))
	at := t0
	step := func() {
		fire(t, s, at)
		at = at.Add(time.Minute)
	}
	step()
	ok := succeed(t, s, at, "a")
	step()
	fail(t, s, at, "a")
	step()
	fail(t, s, at, "a")
	step()
	sc := getSchedule(t, s, "a")
	if sc.LastJob == nil || sc.LastJob.State != queue.StatePending || sc.Failures != 2 || !sc.LastSuccess.Equal(at.Add(-3*time.Minute)) {
		t.Errorf("health = last job %+v, %d failures, last success %v; want pending, 2, %v (job %d)",
			sc.LastJob, sc.Failures, sc.LastSuccess, at.Add(-3*time.Minute), ok.ID)
	}
}

// A schedule's health outlives its jobs: retention deletes a week-old
// success, and an alert on the last success must not fire for that.
// Failures in a row count dead ends since the last success, in the
// order they ended.
func testScheduleHealthOutlivesJobs(t *testing.T, s queue.Store) {
	addSchedule(t, s, newSchedule("a"))
	fire(t, s, t0)
	succeed(t, s, t0.Add(time.Second), "a")
	fire(t, s, t0.Add(time.Minute))
	fail(t, s, t0.Add(time.Minute+time.Second), "a")
	if _, err := s.JobDelete(t.Context(), queue.JobFilter{States: queue.FinalStates, Now: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sc := getSchedule(t, s, "a")
	if sc.LastJob != nil || sc.Failures != 1 || !sc.LastSuccess.Equal(t0.Add(time.Second)) {
		t.Errorf("with its jobs deleted: last job %+v, %d failures, last success %v; want none, 1, %v",
			sc.LastJob, sc.Failures, sc.LastSuccess, t0.Add(time.Second))
	}
	fire(t, s, t0.Add(2*time.Minute))
	succeed(t, s, t0.Add(2*time.Minute+time.Second), "a")
	if sc := getSchedule(t, s, "a"); sc.Failures != 0 || !sc.LastSuccess.Equal(t0.Add(2*time.Minute+time.Second)) {
		t.Errorf("after a success: %d failures, last success %v; want 0, %v", sc.Failures, sc.LastSuccess, t0.Add(2*time.Minute+time.Second))
	}
}

// A schedule's health follows its ticks, not the order its jobs end: a
// job older than the last one counted (jobq retry of an old tick's job)
// changes nothing, whether it dies again (no failure after a newer
// success) or succeeds (no reset while the newest ticks are dead). The
// newest job counted, retried, counts again.
func testScheduleHealthFollowsTicks(t *testing.T, s queue.Store) {
	addSchedule(t, s, newSchedule("a"))
	health := func(when string, failures int, success time.Time) {
		t.Helper()
		if sc := getSchedule(t, s, "a"); sc.Failures != failures || !sc.LastSuccess.Equal(success) {
			t.Errorf("%s: %d failures, last success %v; want %d, %v", when, sc.Failures, sc.LastSuccess, failures, success)
		}
	}
	retryOne := func(id int64, now time.Time) {
		t.Helper()
		if res := retry(t, s, queue.JobRetryParams{Filter: queue.JobFilter{IDs: []int64{id}, Now: now}}); len(res) != 1 || res[0].State != queue.StatePending {
			t.Fatalf("retry of job %d = %+v, want it pending", id, res)
		}
	}
	fire(t, s, t0)
	old := fail(t, s, t0.Add(time.Second), "a")
	fire(t, s, t0.Add(time.Minute))
	ok := t0.Add(time.Minute + time.Second)
	succeed(t, s, ok, "a")
	health("after a newer success", 0, ok)

	retryOne(old.ID, t0.Add(2*time.Minute))
	fail(t, s, t0.Add(2*time.Minute+time.Second), "a")
	health("after an older job retried died again", 0, ok)

	fire(t, s, t0.Add(3*time.Minute))
	fail(t, s, t0.Add(3*time.Minute+time.Second), "a")
	fire(t, s, t0.Add(4*time.Minute))
	newest := fail(t, s, t0.Add(4*time.Minute+time.Second), "a")
	health("after two newer deaths", 2, ok)
	retryOne(old.ID, t0.Add(5*time.Minute))
	succeed(t, s, t0.Add(5*time.Minute+time.Second), "a")
	health("after an older job retried succeeded", 2, ok)

	retryOne(newest.ID, t0.Add(6*time.Minute))
	succeed(t, s, t0.Add(6*time.Minute+time.Second), "a")
	health("after the newest job retried succeeded", 0, t0.Add(6*time.Minute+time.Second))
}

// ActiveSince is when the schedule last began to tick: added, or resumed
// from a pause. A resume of a schedule not paused, and a replace, keep
// it: re-applying a crontab must not hide a schedule that never succeeds.
func testScheduleActiveSince(t *testing.T, s queue.Store) {
	addSchedule(t, s, newSchedule("a"))
	since := func(when string, want time.Time) {
		t.Helper()
		if got := getSchedule(t, s, "a").ActiveSince; !got.Equal(want) {
			t.Errorf("%s: ActiveSince = %v, want %v", when, got, want)
		}
	}
	set := func(paused bool, now time.Time) {
		t.Helper()
		next := now.Add(time.Minute)
		if err := s.ScheduleSet(t.Context(), queue.ScheduleSetParams{Name: "a", Paused: paused, NextAt: next, DueAt: next, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	since("added", t0.Add(-time.Hour))
	set(true, t0)
	since("paused", t0.Add(-time.Hour))
	set(false, t0.Add(24*time.Hour))
	since("resumed", t0.Add(24*time.Hour))
	set(false, t0.Add(25*time.Hour))
	since("resumed while not paused", t0.Add(24*time.Hour))
	if _, err := s.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: newSchedule("a"), Replace: true, Now: t0.Add(26 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	since("replaced", t0.Add(24*time.Hour))
}
