package metrics

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

var t0 = time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)

// openStore is a real SQLite store in a temporary directory.
func openStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobq.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func job(q string, runAt time.Time) queue.JobInsertParams {
	return queue.JobInsertParams{Queue: q, State: queue.StatePending, Command: "true", Argv: queue.ShellArgv("true"),
		Dir: "/", RunAt: runAt, MaxAttempts: 1, CreatedAt: runAt}
}

// The store's families, read from a real store: what each says, and that
// Prometheus's own linter finds nothing to say of them.
func TestStoreCollector(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := t.Context()
	if _, err := s.JobInsert(ctx, queue.Jobs(job("mail", t0.Add(-90*time.Second)), job("mail", t0), job("mail", t0))); err != nil {
		t.Fatal(err)
	}
	res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 2, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute)})
	if err != nil || len(res.Jobs) != 2 {
		t.Fatalf("claim: %v, %v", res, err)
	}
	_, err = s.JobClaim(ctx, queue.JobClaimParams{Worker: "w", Now: t0, Finish: []queue.JobFinishParams{
		{ID: res.Jobs[0].ID, Run: 1, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0},
		{ID: res.Jobs[1].ID, Run: 1, State: queue.StateDead, Attempts: 1, FinishedAt: t0, Error: "exit status 1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	paused, two, rate, period := true, 2, 10, time.Minute
	if err := s.QueueSet(ctx, queue.QueueSetParams{Name: "mail", Paused: &paused, Concurrency: &two, Rate: &rate, RatePeriod: &period}); err != nil {
		t.Fatal(err)
	}
	sc := queue.Schedule{Name: "nightly", Expr: "0 9 * * 1-5", Zone: "UTC", Overlap: queue.OverlapSkip,
		Job: job("reports", time.Time{}), NextAt: t0, DueAt: t0}
	if _, err := s.ScheduleAdd(ctx, []queue.ScheduleAddParams{{Schedule: sc, Now: t0.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	// Paused and resumed: active since the resume, 10 minutes before t0.
	for _, p := range []queue.ScheduleSetParams{
		{Name: "nightly", Paused: true, Now: t0.Add(-30 * time.Minute)},
		{Name: "nightly", NextAt: t0, DueAt: t0, Now: t0.Add(-10 * time.Minute)},
	} {
		if err := s.ScheduleSet(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ScheduleFire(ctx, queue.ScheduleFireParams{Now: t0, Jitter: func() float64 { return 0 }}); err != nil {
		t.Fatal(err)
	}
	res, err = s.JobClaim(ctx, queue.JobClaimParams{Queues: []string{"reports"}, Limit: 1, Worker: "w", Now: t0, LeaseUntil: t0.Add(time.Minute)})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("claim the schedule's job: %v, %v", res, err)
	}
	_, err = s.JobClaim(ctx, queue.JobClaimParams{Worker: "w", Now: t0, Finish: []queue.JobFinishParams{
		{ID: res.Jobs[0].ID, Run: 1, State: queue.StateSucceeded, Attempts: 1, FinishedAt: t0.Add(1500 * time.Millisecond)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := NewStoreCollector(s, func() time.Time { return t0.Add(30 * time.Second) })

	want := `
# HELP jobq_jobs Jobs by queue and state as users see them (jobq stats): a scheduled or retrying job whose time has come is pending.
# TYPE jobq_jobs gauge
jobq_jobs{queue="mail",state="cancelled"} 0
jobq_jobs{queue="mail",state="dead"} 1
jobq_jobs{queue="mail",state="pending"} 1
jobq_jobs{queue="mail",state="retrying"} 0
jobq_jobs{queue="mail",state="running"} 0
jobq_jobs{queue="mail",state="scheduled"} 0
jobq_jobs{queue="mail",state="succeeded"} 1
jobq_jobs{queue="mail",state="waiting"} 0
jobq_jobs{queue="reports",state="cancelled"} 0
jobq_jobs{queue="reports",state="dead"} 0
jobq_jobs{queue="reports",state="pending"} 0
jobq_jobs{queue="reports",state="retrying"} 0
jobq_jobs{queue="reports",state="running"} 0
jobq_jobs{queue="reports",state="scheduled"} 0
jobq_jobs{queue="reports",state="succeeded"} 1
jobq_jobs{queue="reports",state="waiting"} 0
# HELP jobq_jobs_ended_total Jobs that ended, by queue and final state (succeeded, dead, cancelled), since the database was made; deleting jobs (retention, purge) does not lower it.
# TYPE jobq_jobs_ended_total counter
jobq_jobs_ended_total{queue="mail",state="cancelled"} 0
jobq_jobs_ended_total{queue="mail",state="dead"} 1
jobq_jobs_ended_total{queue="mail",state="succeeded"} 1
jobq_jobs_ended_total{queue="reports",state="cancelled"} 0
jobq_jobs_ended_total{queue="reports",state="dead"} 0
jobq_jobs_ended_total{queue="reports",state="succeeded"} 1
# HELP jobq_queue_oldest_ready_age_seconds How long the queue's oldest ready job has waited to start; 0 when no job is ready.
# TYPE jobq_queue_oldest_ready_age_seconds gauge
jobq_queue_oldest_ready_age_seconds{queue="mail"} 30
jobq_queue_oldest_ready_age_seconds{queue="reports"} 0
# HELP jobq_queue_paused 1 while the queue is paused (jobq queue pause), else 0.
# TYPE jobq_queue_paused gauge
jobq_queue_paused{queue="mail"} 1
jobq_queue_paused{queue="reports"} 0
# HELP jobq_queue_concurrency_limit Running jobs the queue allows at most, across all workers (jobq queue limit --concurrency); absent when unlimited.
# TYPE jobq_queue_concurrency_limit gauge
jobq_queue_concurrency_limit{queue="mail"} 2
# HELP jobq_queue_rate_limit_jobs Jobs the queue starts at most per jobq_queue_rate_limit_period_seconds (jobq queue limit --rate); absent when unlimited.
# TYPE jobq_queue_rate_limit_jobs gauge
jobq_queue_rate_limit_jobs{queue="mail"} 10
# HELP jobq_queue_rate_limit_period_seconds The period of the queue's rate limit; absent when unlimited.
# TYPE jobq_queue_rate_limit_period_seconds gauge
jobq_queue_rate_limit_period_seconds{queue="mail"} 60
# HELP jobq_schedule_last_success_timestamp_seconds When a job of the schedule last succeeded, in Unix seconds; absent until one has.
# TYPE jobq_schedule_last_success_timestamp_seconds gauge
jobq_schedule_last_success_timestamp_seconds{schedule="nightly"} 1.9278579075e+09
# HELP jobq_schedule_consecutive_failures Jobs of the schedule that ended dead since its last success.
# TYPE jobq_schedule_consecutive_failures gauge
jobq_schedule_consecutive_failures{schedule="nightly"} 0
# HELP jobq_schedule_period_seconds The longest time between two ticks of the schedule (a weekday schedule's weekend).
# TYPE jobq_schedule_period_seconds gauge
jobq_schedule_period_seconds{schedule="nightly"} 259200
# HELP jobq_schedule_paused 1 while the schedule is paused (jobq schedule pause), else 0.
# TYPE jobq_schedule_paused gauge
jobq_schedule_paused{schedule="nightly"} 0
# HELP jobq_schedule_created_timestamp_seconds When the schedule was added, in Unix seconds.
# TYPE jobq_schedule_created_timestamp_seconds gauge
jobq_schedule_created_timestamp_seconds{schedule="nightly"} 1.927854306e+09
# HELP jobq_schedule_active_since_timestamp_seconds When the schedule last began to tick (added, or resumed from a pause), in Unix seconds: an alert on its last success counts from here until one comes.
# TYPE jobq_schedule_active_since_timestamp_seconds gauge
jobq_schedule_active_since_timestamp_seconds{schedule="nightly"} 1.927857306e+09
`
	names := []string{"jobq_jobs", "jobq_jobs_ended_total", "jobq_queue_oldest_ready_age_seconds", "jobq_queue_paused",
		"jobq_queue_concurrency_limit", "jobq_queue_rate_limit_jobs", "jobq_queue_rate_limit_period_seconds",
		"jobq_schedule_consecutive_failures", "jobq_schedule_period_seconds", "jobq_schedule_paused",
		"jobq_schedule_created_timestamp_seconds", "jobq_schedule_active_since_timestamp_seconds",
		"jobq_schedule_last_success_timestamp_seconds"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "jobq_database_size_bytes"); n != 1 {
		t.Errorf("%d jobq_database_size_bytes, want 1", n)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// A store that cannot be read makes the scrape fail, rather than give
// half of the families.
func TestStoreCollectorError(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	s.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewStoreCollector(s, time.Now))
	if mfs, err := reg.Gather(); err == nil {
		t.Errorf("Gather of a closed store = %d families, no error", len(mfs))
	}
}

func TestWorker(t *testing.T) {
	t.Parallel()
	w := NewWorker()
	j := &queue.Job{ID: 1, Queue: "mail", StartedAt: t0}
	w.Finished(j, queue.JobFinishParams{State: queue.StateSucceeded, FinishedAt: t0.Add(2 * time.Second)}, false)
	w.Finished(j, queue.JobFinishParams{State: queue.StatePending, FinishedAt: t0.Add(time.Second)}, false)
	w.Finished(j, queue.JobFinishParams{State: queue.StateDead, FinishedAt: t0.Add(time.Second)}, true)
	w.Claimed(3 * time.Millisecond)
	w.RenewFailed()
	w.Loop(queue.Snapshot{Running: 2})
	for _, tt := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{w.attempts.WithLabelValues("mail", "succeeded"), 1},
		{w.attempts.WithLabelValues("mail", "handed_back"), 1},
		{w.attempts.WithLabelValues("mail", "lost"), 1},
		{w.attempts.WithLabelValues("mail", "dead"), 0},
		{w.renewFailed, 1},
		{w.running, 2},
	} {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%v = %v, want %v", tt.c, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(w.duration); n != 1 {
		t.Errorf("duration series = %d, want 1 (queue mail)", n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.Collectors()...)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// /metrics serves the registry's families and the process's, which come
// from client_golang's default registry, and nothing twice.
func TestServerMetrics(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	w := NewWorker()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.Collectors()...)
	srv := NewServer(reg, &Health{Worker: w, Store: s, StaleAfter: time.Hour, Timeout: time.Second}, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	seen := map[string]int{}
	for line := range strings.Lines(rec.Body.String()) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			seen[strings.Fields(name)[0]]++
		}
	}
	for _, name := range []string{"jobq_worker_jobs_running", "process_cpu_seconds_total", "process_open_fds", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if seen[name] != 1 {
			t.Errorf("%s served %d times, want once", name, seen[name])
		}
	}
}

// /healthz: not before the loop's first turn, nor while stopping, nor
// when the loop stopped turning, nor when the database file is gone.
func TestHealth(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	w := NewWorker()
	h := &Health{Worker: w, Store: s, StaleAfter: time.Hour, Timeout: time.Second}
	check := func(want string) {
		t.Helper()
		err := h.Check(context.Background())
		switch {
		case want == "" && err != nil:
			t.Errorf("Check = %v, want healthy", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("Check = %v, want an error saying %q", err, want)
		}
	}
	check("starting")
	w.Loop(queue.Snapshot{})
	check("")
	if v := testutil.ToFloat64(h.Collector()); v != 1 {
		t.Errorf("jobq_worker_healthy = %v while healthy, want 1", v)
	}
	w.Loop(queue.Snapshot{Stopping: true})
	check("stopping")
	w.Loop(queue.Snapshot{})
	h.StaleAfter = time.Nanosecond
	time.Sleep(time.Millisecond)
	check("has not turned for")
	h.StaleAfter = time.Hour
	// Told to stop (SIGTERM cancels the work context) while the loop
	// waits for running jobs without turning: stopping at once.
	ctx, cancel := context.WithCancel(context.Background())
	w.StopWith(ctx)
	check("")
	cancel()
	for deadline := time.Now().Add(5 * time.Second); h.Check(context.Background()) == nil && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	check("stopping")
	w.told = false
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	check("database: database file: stat " + path + ": no such file or directory")
	if v := testutil.ToFloat64(h.Collector()); v != 0 {
		t.Errorf("jobq_worker_healthy = %v with the database gone, want 0", v)
	}
}

func TestParseAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		":9811":                "127.0.0.1:9811",
		":0":                   "127.0.0.1:0",
		"0.0.0.0:9811":         "0.0.0.0:9811",
		"[::]:9811":            "[::]:9811",
		"[::1]:9811":           "[::1]:9811",
		"localhost:9811":       "localhost:9811",
		"10.1.2.3:65535":       "10.1.2.3:65535",
		"9811":                 "",
		"":                     "",
		"localhost":            "",
		":http":                "",
		":65536":               "",
		":-1":                  "",
		"::1:9811":             "",
		"127.0.0.1:98 11":      "",
		"jobq-1.example.:9811": "jobq-1.example.:9811",
		" :9811":               "",
		"local host:9811":      "",
		"-a:9811":              "",
		"a..b:9811":            "",
		"[fe80::1%eth0]:9811":  "",
		"ex_ample:9811":        "",
	} {
		got, err := ParseAddr(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ParseAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{":9811", "0.0.0.0:1", "[::]:9811", "9811", "", "host:", ":99999", "[::1", "a:b:c", " :9811", "a b:1", "[fe80::1%lo]:1", "-x.y:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAddr(s)
		if err != nil {
			if got != "" || !strings.Contains(err.Error(), "metrics address") {
				t.Errorf("ParseAddr(%q) = %q, %v", s, got, err)
			}
			return
		}
		host, port, err := net.SplitHostPort(got)
		if err != nil || host == "" || port == "" {
			t.Errorf("ParseAddr(%q) = %q, which is not HOST:PORT (%v)", s, got, err)
		}
		if host != loopback && !validHost(host) {
			t.Errorf("ParseAddr(%q) = %q: %q is neither an IP address nor a host name", s, got, host)
		}
		if strings.ContainsAny(host, " \t\n%/_") {
			t.Errorf("ParseAddr(%q) = %q: the host holds what no address or name does", s, got)
		}
		if strings.HasPrefix(s, ":") && host != loopback {
			t.Errorf("ParseAddr(%q) = %q: a bare port must listen on loopback", s, got)
		}
	})
}
