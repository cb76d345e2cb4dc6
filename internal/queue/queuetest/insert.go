package queuetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// Inserting jobs and reading them back: every field kept, IDs, unique keys.
var insertTests = []suiteTest{
	{"InsertGetRoundTrip", testInsertGetRoundTrip},
	{"InsertMinimal", testInsertMinimal},
	{"InsertIDsIncrease", testInsertIDsIncrease},
	{"InsertKeepsBytes", testInsertKeepsBytes},
	{"InsertLargeBatch", testInsertLargeBatch},
	{"InsertStreamError", testInsertStreamError},
	{"InsertStreamRefused", testInsertStreamRefused},
	{"InsertNothing", testInsertNothing},
	{"NotFound", testNotFound},
	{"UniqueKey", testUniqueKey},
	{"UniqueKeyWithinOneCall", testUniqueKeyWithinOneCall},
	{"UniqueKeyFreedWhenFinal", testUniqueKeyFreedWhenFinal},
}

func testInsertGetRoundTrip(t *testing.T, s queue.Store) {
	p := queue.JobInsertParams{
		Queue:         "emails.out:eu-1",
		State:         queue.StateScheduled,
		Priority:      -7,
		Command:       "/bin/echo 'a b' \"it's\"",
		Argv:          []string{"/bin/echo", "a b", "it's", "", "é ✓"},
		Dir:           "/srv/app dir",
		Env:           []string{"A=1", "B=two words", "C=", "D=x=y"},
		RunAt:         t0.Add(time.Hour + 123*time.Millisecond),
		MaxAttempts:   5,
		Timeout:       90*time.Second + 500*time.Millisecond,
		Backoff:       2500 * time.Millisecond,
		MaxBackoff:    2 * time.Hour,
		PermanentExit: []int{3, 64, 65},
		UniqueKey:     "report:2031-02-03",
		CreatedAt:     t0.Add(-time.Millisecond),
		ScheduleID:    12,
		ScheduleTick:  t0.Add(-time.Minute),
	}
	id := insertOne(t, s, p)
	if id <= 0 {
		t.Fatalf("ID %d, want a positive one", id)
	}
	j := get(t, s, id)
	want := queue.Job{
		ID: id, Queue: p.Queue, State: p.State, Priority: p.Priority, Command: p.Command,
		Argv: p.Argv, Dir: p.Dir, Env: p.Env, RunAt: p.RunAt, MaxAttempts: p.MaxAttempts,
		Timeout: p.Timeout, Backoff: p.Backoff, MaxBackoff: p.MaxBackoff,
		PermanentExit: p.PermanentExit, UniqueKey: p.UniqueKey, CreatedAt: p.CreatedAt,
		ScheduleID: p.ScheduleID, ScheduleTick: p.ScheduleTick,
	}
	checkJob(t, j, &want)

	// JobList returns the same record.
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: t0})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobList = %d jobs, %v; want 1", len(jobs), err)
	}
	checkJob(t, jobs[0], &want)
}

// checkJob compares every field of a job with want (DependsOn in any
// order). A field added to queue.Job fails it until it is compared here.
func checkJob(t *testing.T, got, want *queue.Job) {
	t.Helper()
	type field struct {
		name      string
		same      bool
		got, want any
	}
	fields := []field{
		{"ID", got.ID == want.ID, got.ID, want.ID},
		{"Queue", got.Queue == want.Queue, got.Queue, want.Queue},
		{"State", got.State == want.State, got.State, want.State},
		{"Priority", got.Priority == want.Priority, got.Priority, want.Priority},
		{"Command", got.Command == want.Command, got.Command, want.Command},
		{"Argv", slices.Equal(got.Argv, want.Argv), got.Argv, want.Argv},
		{"Dir", got.Dir == want.Dir, got.Dir, want.Dir},
		{"Env", slices.Equal(got.Env, want.Env), got.Env, want.Env},
		{"RunAt", sameTime(got.RunAt, want.RunAt), got.RunAt, want.RunAt},
		{"MaxAttempts", got.MaxAttempts == want.MaxAttempts, got.MaxAttempts, want.MaxAttempts},
		{"Attempts", got.Attempts == want.Attempts, got.Attempts, want.Attempts},
		{"Timeout", got.Timeout == want.Timeout, got.Timeout, want.Timeout},
		{"Backoff", got.Backoff == want.Backoff, got.Backoff, want.Backoff},
		{"MaxBackoff", got.MaxBackoff == want.MaxBackoff, got.MaxBackoff, want.MaxBackoff},
		{"PermanentExit", slices.Equal(got.PermanentExit, want.PermanentExit), got.PermanentExit, want.PermanentExit},
		{"UniqueKey", got.UniqueKey == want.UniqueKey, got.UniqueKey, want.UniqueKey},
		{"CreatedAt", sameTime(got.CreatedAt, want.CreatedAt), got.CreatedAt, want.CreatedAt},
		{"StartedAt", sameTime(got.StartedAt, want.StartedAt), got.StartedAt, want.StartedAt},
		{"FinishedAt", sameTime(got.FinishedAt, want.FinishedAt), got.FinishedAt, want.FinishedAt},
		{"ExitCode", sameInt(got.ExitCode, want.ExitCode), showInt(got.ExitCode), showInt(want.ExitCode)},
		{"LastError", got.LastError == want.LastError, got.LastError, want.LastError},
		{"Run", got.Run == want.Run, got.Run, want.Run},
		{"Worker", got.Worker == want.Worker, got.Worker, want.Worker},
		{"LeaseUntil", sameTime(got.LeaseUntil, want.LeaseUntil), got.LeaseUntil, want.LeaseUntil},
		{"DependsOn", slices.Equal(slices.Sorted(slices.Values(got.DependsOn)), slices.Sorted(slices.Values(want.DependsOn))), got.DependsOn, want.DependsOn},
		{"Signal", got.Signal == want.Signal, got.Signal, want.Signal},
		{"Progress", sameProgress(got.Progress, want.Progress), got.Progress, want.Progress},
		{"CancelRequested", got.CancelRequested == want.CancelRequested, got.CancelRequested, want.CancelRequested},
		{"Unreadable", got.Unreadable == want.Unreadable, got.Unreadable, want.Unreadable},
		{"LastOutput", got.LastOutput == want.LastOutput, got.LastOutput, want.LastOutput},
		{"ScheduleID", got.ScheduleID == want.ScheduleID, got.ScheduleID, want.ScheduleID},
		{"ScheduleTick", sameTime(got.ScheduleTick, want.ScheduleTick), got.ScheduleTick, want.ScheduleTick},
	}
	if n := reflect.TypeFor[queue.Job]().NumField(); len(fields) != n {
		t.Fatalf("checkJob compares %d fields of queue.Job, which has %d: compare the new ones", len(fields), n)
	}
	for _, f := range fields {
		if !f.same {
			t.Errorf("job %d: %s = %v, want %v", want.ID, f.name, f.got, f.want)
		}
	}
}

func sameProgress(a, b *queue.Progress) bool {
	return a == nil && b == nil ||
		a != nil && b != nil && a.Percent == b.Percent && a.Message == b.Message && sameTime(a.At, b.At)
}

func testInsertMinimal(t *testing.T, s queue.Store) {
	p := newJob("default")
	p.Backoff, p.MaxBackoff = 0, 0
	id := insertOne(t, s, p)
	j := get(t, s, id)
	if len(j.Env) != 0 || len(j.PermanentExit) != 0 || j.UniqueKey != "" || j.Timeout != 0 {
		t.Errorf("unset fields read back as env %q, permanent %v, unique key %q, timeout %v", j.Env, j.PermanentExit, j.UniqueKey, j.Timeout)
	}
	if j.State != queue.StatePending || j.Attempts != 0 || j.Run != 0 || j.ExitCode != nil {
		t.Errorf("new job: state %s, attempts %d, run %d, exit %v", j.State, j.Attempts, j.Run, showInt(j.ExitCode))
	}
	if !j.StartedAt.IsZero() || !j.FinishedAt.IsZero() || !j.LeaseUntil.IsZero() || j.Worker != "" {
		t.Errorf("new job: started %v, finished %v, lease %v, worker %q; want all unset", j.StartedAt, j.FinishedAt, j.LeaseUntil, j.Worker)
	}
	if a := attempts(t, s, id); len(a) != 0 {
		t.Errorf("new job has %d attempts in its history, want none", len(a))
	}
}

func testInsertIDsIncrease(t *testing.T, s queue.Store) {
	first := insert(t, s, newJob("a"), newJob("b"), newJob("c"))
	second := insert(t, s, newJob("a"))
	all := append(first, second...)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("IDs %v do not increase", all)
		}
	}
	for i, id := range first {
		if q := get(t, s, id).Queue; q != []string{"a", "b", "c"}[i] {
			t.Errorf("ID %d is the job of queue %s, not the %d-th inserted", id, q, i+1)
		}
	}
}

// Commands, arguments and environments are bytes, not always UTF-8 (file
// names): what is executed must be exactly what was enqueued.
func testInsertKeepsBytes(t *testing.T, s queue.Store) {
	p := newJob("default")
	p.Command = "rm -- '\xff\xfe.txt'"
	p.Argv = []string{"rm", "--", "\xff\xfe.txt", "", "tab\there", "new\nline"}
	p.Env = []string{"A=\xc3\x28", "EMPTY="}
	p.Dir = "/tmp/\xe9t\xe9"
	j := get(t, s, insertOne(t, s, p))
	if j.Command != p.Command || !slices.Equal(j.Argv, p.Argv) || !slices.Equal(j.Env, p.Env) || j.Dir != p.Dir {
		t.Errorf("read back command %q argv %q env %q dir %q\nwant %q %q %q %q", j.Command, j.Argv, j.Env, j.Dir, p.Command, p.Argv, p.Env, p.Dir)
	}
}

// bigBatch is many statements' worth of jobs for SQLite (256 rows a
// statement), and more than PostgreSQL's 5,000 parameters' habit: a
// stream's jobs go in by chunks, their IDs in order across them.
const bigBatch = 12000

// A batch larger than any internal chunk gets one ID per job, in order,
// with unique keys settled across the whole batch, across chunks; its
// events and counts are every job's.
func testInsertLargeBatch(t *testing.T, s queue.Store) {
	before := insertOne(t, s, withKey(newJob("default"), "old"))
	params := make([]queue.JobInsertParams, bigBatch)
	for i := range params {
		params[i] = newJob("bulk")
		params[i].Priority = i
	}
	params[10] = withKey(params[10], "new")     // first of a new key...
	params[6000] = withKey(params[6000], "old") // an existing job's key
	params[11000] = withKey(params[11000], "new")
	ids := insert(t, s, params...)
	if ids[6000] != before || ids[11000] != ids[10] {
		t.Errorf("unique keys: ids[6000] = %d (want %d), ids[10] = %d, ids[11000] = %d (want equal)", ids[6000], before, ids[10], ids[11000])
	}
	last := int64(0)
	for i, id := range ids {
		if i == 6000 || i == 11000 {
			continue
		}
		if id <= last {
			t.Fatalf("ids[%d] = %d after %d: IDs must increase in batch order", i, id, last)
		}
		last = id
	}
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Queues: []string{"bulk"}, Now: t0})
	if err != nil || len(jobs) != bigBatch-2 {
		t.Fatalf("JobList(bulk) = %d jobs, %v; want %d", len(jobs), err, bigBatch-2)
	}
	for _, j := range jobs {
		if ids[j.Priority] != j.ID {
			t.Fatalf("job %d has priority %d: ids[%d] = %d; want each ID to be its own job's", j.ID, j.Priority, j.Priority, ids[j.Priority])
		}
	}
	events, err := s.EventList(t.Context(), queue.EventListParams{})
	if err != nil || len(events) != bigBatch-1 {
		t.Fatalf("EventList = %d events, %v; want one per new job, %d", len(events), err, bigBatch-1)
	}
	for i, e := range events[1:] {
		if e.JobID != jobs[len(jobs)-1-i].ID || e.To != queue.StatePending || e.From != "" {
			t.Fatalf("event %d: %+v; want job %d created pending, in ID order", i+1, e, jobs[len(jobs)-1-i].ID)
		}
	}
	if n := countIn(t, s, "bulk", queue.StatePending); n != bigBatch-2 {
		t.Errorf("QueueStats: %d pending in bulk, want %d", n, bigBatch-2)
	}
}

// countIn is how many jobs of a queue QueueStats counts in a state.
func countIn(t *testing.T, s queue.Store, q string, st queue.State) int {
	t.Helper()
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0})
	if err != nil {
		t.Fatal(err)
	}
	for _, qs := range stats {
		if qs.Name == q {
			return qs.Counts[st]
		}
	}
	return 0
}

// An error the stream yields after more than a chunk stops the insert:
// JobInsert returns it as it is, and nothing of the stream is left, not
// a job, an event, a count or a unique key.
func testInsertStreamError(t *testing.T, s queue.Store) {
	dep := insertOne(t, s, newJob("default"))
	bad := errors.New("line 12001: bad")
	stream := func(yield func(queue.JobInsertParams, error) bool) {
		for i := range bigBatch {
			p := newJob("bulk")
			switch i {
			case 5:
				p = withKey(p, "k")
			case 7000:
				p.State, p.After = queue.StateWaiting, []int64{dep}
			}
			if !yield(p, nil) {
				return
			}
		}
		yield(queue.JobInsertParams{}, bad)
	}
	ids, err := s.JobInsert(t.Context(), stream)
	if err != bad || ids != nil {
		t.Fatalf("JobInsert = %d IDs, %v; want the stream's error as it is", len(ids), err)
	}
	if n, err := s.JobCount(t.Context(), queue.JobFilter{Now: t0}); err != nil || n != 1 {
		t.Errorf("JobCount = %d, %v; want the one job from before", n, err)
	}
	if events, err := s.EventList(t.Context(), queue.EventListParams{}); err != nil || len(events) != 1 {
		t.Errorf("EventList = %d events, %v; want the one from before", len(events), err)
	}
	if n := countIn(t, s, "bulk", queue.StatePending); n != 0 {
		t.Errorf("QueueStats: %d pending in bulk, want none", n)
	}
	if id := insertOne(t, s, withKey(newJob("default"), "k")); id == 0 || id == dep {
		t.Errorf("key k after the failed insert gave ID %d, want a new job", id)
	}
}

// A job of a stream the store refuses (a dependency that does not exist)
// after more than a chunk leaves nothing of the stream.
func testInsertStreamRefused(t *testing.T, s queue.Store) {
	stream := func(yield func(queue.JobInsertParams, error) bool) {
		for i := range 1000 {
			p := newJob("default")
			if i == 700 {
				p.State, p.After = queue.StateWaiting, []int64{1 << 40}
			}
			if !yield(p, nil) {
				return
			}
		}
	}
	if _, err := s.JobInsert(t.Context(), stream); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobInsert = %v; want ErrNotFound", err)
	}
	if n, err := s.JobCount(t.Context(), queue.JobFilter{Now: t0}); err != nil || n != 0 {
		t.Errorf("JobCount = %d, %v; want 0", n, err)
	}
}

func testInsertNothing(t *testing.T, s queue.Store) {
	ids, err := s.JobInsert(t.Context(), queue.Jobs())
	if err != nil || len(ids) != 0 {
		t.Errorf("JobInsert(no jobs) = %v, %v; want nothing", ids, err)
	}
}

func testNotFound(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("default"))
	if _, err := s.JobGet(t.Context(), id+1000); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobGet(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.AttemptList(t.Context(), id+1000); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("AttemptList(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.JobGet(t.Context(), 0); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("JobGet(0) error = %v, want ErrNotFound", err)
	}
	if _, err := s.JobGet(t.Context(), id); err != nil {
		t.Errorf("JobGet(%d) after the misses: %v", id, err)
	}
}

func withKey(p queue.JobInsertParams, key string) queue.JobInsertParams {
	p.UniqueKey = key
	return p
}

func testUniqueKey(t *testing.T, s queue.Store) {
	first := insertOne(t, s, withKey(newJob("default"), "k"))
	again := insert(t, s, withKey(newJob("default"), "k"), withKey(newJob("other"), "k"))
	if again[0] != first || again[1] != first {
		t.Errorf("inserting key k again gave IDs %v, want %d twice", again, first)
	}
	other := insertOne(t, s, withKey(newJob("default"), "k2"))
	none1 := insertOne(t, s, newJob("default"))
	none2 := insertOne(t, s, newJob("default"))
	if other == first || none1 == none2 || none1 == first {
		t.Errorf("distinct or empty keys were deduplicated: %d %d %d %d", first, other, none1, none2)
	}
	if got := list(t, s, queue.JobFilter{Now: t0}); len(got) != 4 {
		t.Errorf("JobList = %v, want 4 jobs", got)
	}
	// A running job is not final: its key still holds.
	claimOne(t, s, t0, "default")
	if got := list(t, s, queue.JobFilter{States: []queue.State{queue.StateRunning}, Now: t0}); !slices.Equal(got, []int64{first}) {
		t.Fatalf("running = %v, want [%d]", got, first)
	}
	if id := insertOne(t, s, withKey(newJob("default"), "k")); id != first {
		t.Errorf("key of a running job gave ID %d, want %d", id, first)
	}
}

func testUniqueKeyWithinOneCall(t *testing.T, s queue.Store) {
	ids := insert(t, s,
		withKey(newJob("default"), "a"),
		withKey(newJob("default"), "b"),
		withKey(newJob("default"), "a"),
		newJob("default"),
		withKey(newJob("default"), "b"),
	)
	if ids[2] != ids[0] || ids[4] != ids[1] || ids[0] == ids[1] || ids[3] == ids[0] || ids[3] == ids[1] {
		t.Errorf("IDs %v, want the 3rd equal to the 1st and the 5th to the 2nd, others distinct", ids)
	}
	if got := list(t, s, queue.JobFilter{Now: t0}); len(got) != 3 {
		t.Errorf("JobList = %v, want 3 jobs", got)
	}
}

func testUniqueKeyFreedWhenFinal(t *testing.T, s queue.Store) {
	for _, st := range []queue.State{queue.StateSucceeded, queue.StateDead} {
		first := insertOne(t, s, withKey(newJob("default"), "nightly"))
		j := claimOne(t, s, t0, "default")
		if j.ID != first {
			t.Fatalf("claimed %d, want %d", j.ID, first)
		}
		finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: st, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(0)})
		next := insertOne(t, s, withKey(newJob("default"), "nightly"))
		if next == first {
			t.Errorf("key of a %s job still deduplicates: got ID %d again", st, next)
		}
		if again := insertOne(t, s, withKey(newJob("default"), "nightly")); again != next {
			t.Errorf("key of the new job gave %d, want %d", again, next)
		}
		// Make the new job final too, for the next round.
		j = claimOne(t, s, t0, "default")
		finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: j.Attempts, FinishedAt: t0, ExitCode: intp(0)})
	}
}
