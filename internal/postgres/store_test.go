package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

var t0 = time.Date(2031, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

func testJob(q string) queue.JobInsertParams {
	return queue.JobInsertParams{
		Queue: q, State: queue.StatePending, Command: "true", Argv: queue.ShellArgv("true"),
		Dir: "/", RunAt: t0, MaxAttempts: 3, CreatedAt: t0,
	}
}

// connect opens a plain connection to url, as another program would.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestOpenMigratesTogether: hosts starting together on a new database
// migrate it once (the advisory lock), and all of them open it.
func TestOpenMigratesTogether(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			s, err := Open(t.Context(), url, Options{BusyTimeout: 30 * time.Second, MaxConns: 2})
			if err == nil {
				_, err = s.JobInsert(t.Context(), queue.Jobs(testJob("a")))
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open together: %v", err)
		}
	}
	var version, rows int
	conn := connect(t, url)
	if err := conn.QueryRow(t.Context(), "SELECT max(version), count(*) FROM jobq_schema").Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	files, _ := migrations.ReadDir("migrations")
	if version != len(files) || rows != 1 {
		t.Errorf("jobq_schema: version %d in %d rows, want %d in 1", version, rows, len(files))
	}
}

// TestOpenRefusesNewerSchema: a database a newer jobq migrated is refused
// with a message that says so, and left as it is.
func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), "UPDATE jobq_schema SET version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), url, Options{})
	if err == nil || !strings.Contains(err.Error(), "database schema version 99 is newer than this jobq knows") {
		t.Fatalf("Open = %v, want the newer schema refused", err)
	}
	var version int
	if err := conn.QueryRow(t.Context(), "SELECT version FROM jobq_schema").Scan(&version); err != nil || version != 99 {
		t.Errorf("version after the refusal: %d, %v; want 99 kept", version, err)
	}
}

// TestUnavailable: a server that is not there is queue.ErrBusy (exit 75)
// said in one line that names the server and not the password.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: the server's own, once it is stopped, is
	// not to be had here, so take one that was free a moment ago.
	url := "postgres://jobq:s3cret@127.0.0.1:1/jobq?sslmode=disable&connect_timeout=5"
	_, err := Open(t.Context(), url, Options{})
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("Open of a server not there = %v (%T), want an UnavailableError that is ErrBusy", err, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("message %q: want one line naming 127.0.0.1:1, without the password", msg)
	}
}

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://u:pw@h/db", "postgres://u:xxxxx@h/db"},
		{"postgresql://u:p%40w@h:5432/db?sslmode=require", "postgresql://u:xxxxx@h:5432/db?sslmode=require"},
		{"postgres://u@h/db?password=pw&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"host=h password=pw user=u", "host=h password=xxxxx user=u"},
		{"postgres://h/db", "postgres://h/db"},
		{"no url here", "no url here"},
	} {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRedact: whatever the text, a password given in a URL's user part
// never comes out.
func FuzzRedact(f *testing.F) {
	f.Add("u", "pw", "h/db?sslmode=disable")
	f.Add("user", "p@ss:word", "host:5432/db")
	f.Fuzz(func(t *testing.T, user, password, rest string) {
		if len(password) < 4 || strings.ContainsAny(user+password, "@/ ?#:") || strings.Contains(rest, password) || strings.Contains(user, password) {
			return
		}
		in := "postgres://" + user + ":" + password + "@" + rest
		if got := Redact(in); strings.Contains(got, password) {
			t.Errorf("Redact(%q) = %q: the password is still there", in, got)
		}
	})
}

// TestIndexesMatchStates: the schema's partial indexes, and the trigger
// that counts ends (job_ends), name queue's lists of states.
func TestIndexesMatchStates(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	conn := connect(t, url)
	for _, tt := range []struct {
		index string
		want  []string
	}{
		{"jobs_ready", stateNames(queue.ReadyStates)},
		{"jobs_queue_ready", stateNames(queue.ReadyStates)},
		{"jobs_unique_key", stateNames(queue.FinalStates)},
		{"jobq_final", stateNames(queue.FinalStates)}, // a function, of the trigger jobs_changed
	} {
		var def string
		if err := conn.QueryRow(t.Context(), `SELECT indexdef FROM pg_indexes WHERE indexname = $1
			UNION ALL SELECT pg_get_functiondef(oid) FROM pg_proc WHERE proname = $1`, tt.index).Scan(&def); err != nil {
			t.Fatalf("index %s: %v", tt.index, err)
		}
		// PostgreSQL writes IN as = ANY (ARRAY['pending'::text, ...]).
		var names []string
		for _, part := range strings.Split(def, "'")[1:] {
			if !strings.HasPrefix(part, "::") && !strings.ContainsAny(part, " ()") {
				names = append(names, part)
			}
		}
		if strings.Join(names, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s is\n%s\nwant its states to be %v, from queue's lists", tt.index, def, tt.want)
		}
	}
}

func stateNames(states []queue.State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// TestScheduleFireTwoStores: two stores, as two hosts have, fire the same
// tick at once: one job.
func TestScheduleFireTwoStores(t *testing.T) {
	t.Parallel()
	a, url := setup(t)
	b := open(t, url)
	j := testJob("default")
	j.State, j.RunAt, j.CreatedAt = "", time.Time{}, time.Time{}
	sc := queue.Schedule{Name: "a", Expr: "* * * * *", Zone: "UTC", Overlap: queue.OverlapAllow, Job: j, NextAt: t0, DueAt: t0}
	ids, err := a.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: sc, Now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := 0
	for i := range 8 {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			res, err := s.ScheduleFire(t.Context(), queue.ScheduleFireParams{Now: now, Jitter: func() float64 { return 0.5 }})
			if err != nil {
				t.Errorf("ScheduleFire: %v", err)
				return
			}
			mu.Lock()
			fired += len(res.Fired)
			mu.Unlock()
		})
	}
	wg.Wait()
	jobs, err := a.JobList(t.Context(), queue.JobFilter{ScheduleID: ids[0], Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || fired != 1 {
		t.Errorf("8 firings from two stores: %d jobs, %d reported fired; want 1 and 1", len(jobs), fired)
	}
}

// TestScheduleFireStaleRow: a firing that read the schedule before
// another moved its next tick on enqueues nothing (the compare and set).
func TestScheduleFireStaleRow(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	j := testJob("default")
	j.State, j.RunAt, j.CreatedAt = "", time.Time{}, time.Time{}
	sc := queue.Schedule{Name: "a", Expr: "* * * * *", Zone: "UTC", Overlap: queue.OverlapAllow, Job: j, NextAt: t0, DueAt: t0}
	ids, err := s.ScheduleAdd(t.Context(), []queue.ScheduleAddParams{{Schedule: sc, Now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := s.ScheduleGet(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	params := queue.ScheduleFireParams{Now: t0.Add(time.Second), Jitter: func() float64 { return 0 }}
	if res, err := s.ScheduleFire(t.Context(), params); err != nil || len(res.Fired) != 1 {
		t.Fatalf("first fire = %+v, %v; want one job", res, err)
	}
	err = s.write(t.Context(), func(tx pgx.Tx) error {
		fired, ok, err := fireSchedule(t.Context(), tx, stale, params)
		if err != nil || ok || fired.JobID != 0 {
			return fmt.Errorf("fire of the stale row = %+v, %v, %v; want nothing", fired, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if jobs, err := s.JobList(t.Context(), queue.JobFilter{ScheduleID: ids[0], Now: t0}); err != nil || len(jobs) != 1 {
		t.Errorf("%d jobs for one tick (%v), want 1", len(jobs), err)
	}
}

// TestLimitsAcrossStores: a queue's concurrency limit holds across
// workers on several hosts claiming at once.
func TestLimitsAcrossStores(t *testing.T) {
	t.Parallel()
	a, url := setup(t)
	stores := []*Store{a, open(t, url), open(t, url), open(t, url)}
	jobs := make([]queue.JobInsertParams, 40)
	for i := range jobs {
		jobs[i] = testJob("limited")
	}
	if _, err := a.JobInsert(t.Context(), queue.Jobs(jobs...)); err != nil {
		t.Fatal(err)
	}
	if err := a.QueueSet(t.Context(), queue.QueueSetParams{Name: "limited", Concurrency: new(3)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := 0
	for i, s := range stores {
		for k := range 3 {
			wg.Go(func() {
				res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Limit: 5, Now: t0,
					Worker: fmt.Sprintf("host-%d:%d", i, k), LeaseUntil: t0.Add(time.Minute)})
				if err != nil {
					t.Errorf("JobClaim: %v", err)
					return
				}
				mu.Lock()
				claimed += len(res.Jobs)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if claimed != 3 {
		t.Errorf("12 workers on 4 hosts claimed %d jobs of a queue limited to 3", claimed)
	}
}

// TestEventsInCommitOrder: a follower that reads the log by ID, as jobq
// events -f does, while writers on several hosts log events, misses none:
// IDs are in commit order.
func TestEventsInCommitOrder(t *testing.T) {
	t.Parallel()
	a, url := setup(t)
	writers := []*Store{a, open(t, url), open(t, url)}
	const each = 60
	var wg sync.WaitGroup
	for _, s := range writers {
		for range 2 {
			wg.Go(func() {
				for range each {
					if _, err := s.JobInsert(context.Background(), queue.Jobs(testJob("a"))); err != nil {
						t.Errorf("JobInsert: %v", err)
						return
					}
				}
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	follower := open(t, url)
	var after int64
	seen := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // one more read after the last commit
		default:
		}
		events, err := follower.EventList(t.Context(), queue.EventListParams{AfterID: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			after = e.ID
		}
		seen += len(events)
	}
	if want := len(writers) * 2 * each; seen != want {
		t.Errorf("the follower saw %d events of %d", seen, want)
	}
}

// TestConnectionSettings: application_name and lock_timeout come from the
// options unless the URL sets them.
func TestConnectionSettings(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	for _, tt := range []struct {
		url, app, lockTimeout string
	}{
		{url, "jobq work", "1500ms"},
		{url + "&application_name=mine&lock_timeout=7s", "mine", "7s"},
	} {
		s, err := Open(t.Context(), tt.url, Options{Application: "jobq work", BusyTimeout: 1500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var app, lockTimeout string
		err = s.pool.QueryRow(t.Context(), "SELECT current_setting('application_name'), current_setting('lock_timeout')").Scan(&app, &lockTimeout)
		s.Close()
		if err != nil || app != tt.app || lockTimeout != tt.lockTimeout {
			t.Errorf("%s: application_name %q, lock_timeout %q (%v); want %q, %q", tt.url, app, lockTimeout, err, tt.app, tt.lockTimeout)
		}
	}
}

// TestBusy: a statement that waits for the write lock past the busy
// timeout is queue.ErrBusy, and writes nothing.
func TestBusy(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s, err := Open(t.Context(), url, Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	holder := connect(t, url)
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT pg_advisory_xact_lock($1, $2)", lockClass, writeLock); err != nil {
		t.Fatal(err)
	}
	_, err = s.JobInsert(t.Context(), queue.Jobs(testJob("a")))
	if !errors.Is(err, queue.ErrBusy) {
		t.Fatalf("JobInsert while another holds the write lock = %v, want ErrBusy", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "write lock") || strings.Contains(msg, "database is locked") {
		t.Errorf("message %q: want it to say the write lock was busy (not SQLite's 'database is locked')", msg)
	}
	tx.Rollback(t.Context())
	if n, err := s.JobCount(t.Context(), queue.JobFilter{Now: t0}); err != nil || n != 0 {
		t.Errorf("after the refused insert: %d jobs, %v; want none", n, err)
	}
}

// TestPingGone: a store whose database went away (dropped, its
// connections ended, as a server going down ends them) fails Ping with
// one line that says why.
func TestPingGone(t *testing.T) {
	t.Parallel()
	if ok, why := pgtest.Available(); !ok {
		t.Skip(why)
	}
	url, drop, err := pgtest.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, url)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a database there: %v", err)
	}
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	err = s.Ping(t.Context())
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "PostgreSQL does not answer: ") {
		t.Errorf("Ping of a dropped database = %v; want one line saying PostgreSQL does not answer", err)
	}
	t.Log(err)
}
