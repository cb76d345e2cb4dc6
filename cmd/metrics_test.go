package cmd

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

// parseMetrics reads jobq metrics' output with Prometheus's own text
// parser, and checks it with promtool check metrics where promtool is
// installed (.ci/run installs it).
func parseMetrics(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, text)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	return families
}

// value is the value of the family's series with these labels, and
// whether it has one.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if !maps.Equal(got, labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// metrics runs jobq metrics and parses what it prints.
func (e *testEnv) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	if code := e.run("metrics"); code != 0 {
		t.Fatalf("metrics: exit %d: %s", code, e.stderr)
	}
	return parseMetrics(t, e.stdout.Bytes())
}

// jobq metrics and jobq stats agree after a mix of ends: each queue's jobs
// by state, its oldest ready job, its pause and limits; and the ended
// counters count every end, and still do after purge deleted the jobs.
// On SQLite and on PostgreSQL.
func TestMetricsAgreeWithStats(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { testMetricsAgreeWithStats(t, setup(t)) })
	t.Run("postgres", func(t *testing.T) {
		e := setup(t)
		e.env["JOBQ_DB"] = pgtest.NewDatabase(t)
		testMetricsAgreeWithStats(t, e)
	})
}

func testMetricsAgreeWithStats(t *testing.T, e *testEnv) {
	for _, args := range [][]string{
		{"enqueue", "-q", "a", "true"},
		{"enqueue", "-q", "a", "true"},
		{"enqueue", "-q", "a", "--max-attempts", "1", "exit 3"},
		{"enqueue", "-q", "a", "--max-attempts", "2", "--backoff", "1h", "exit 4"}, // retrying
		{"enqueue", "-q", "b", "--in", "1h", "true"},                               // 5: cancelled
		{"enqueue", "-q", "b", "--after", "5", "true"},                             // cancelled with it
		{"enqueue", "-q", "b", "true"},                                             // pending, paused
		{"enqueue", "-q", "c", "--in", "2h", "true"},                               // scheduled
		{"cancel", "5"},
		{"queue", "pause", "b"},
		{"queue", "limit", "c", "--concurrency", "2", "--rate", "10/m"},
	} {
		if code := e.run(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, e.stderr)
		}
	}
	if code := e.run("drain", "-q", "a"); code != 1 {
		t.Fatalf("drain: exit %d, want 1 (a job went dead): %s", code, e.stderr)
	}
	e.f.Now = func() time.Time { return testNow.Add(time.Minute) } // the ready jobs have waited
	if code := e.run("stats", "--json"); code != 0 {
		t.Fatalf("stats: exit %d: %s", code, e.stderr)
	}
	var stats []map[string]any
	if err := json.Unmarshal(e.stdout.Bytes(), &stats); err != nil {
		t.Fatal(err)
	}
	families := e.metrics(t)
	if len(stats) != 3 {
		t.Fatalf("stats has %d queues, want a, b and c: %s", len(stats), e.stdout)
	}
	for _, q := range stats {
		name := q["queue"].(string)
		for _, st := range queue.States {
			got, ok := value(families, "jobq_jobs", map[string]string{"queue": name, "state": string(st)})
			if want := q[string(st)].(float64); !ok || got != want {
				t.Errorf("jobq_jobs{queue=%q,state=%q} = %v (%v), stats says %v", name, st, got, ok, want)
			}
		}
		age, _ := value(families, "jobq_queue_oldest_ready_age_seconds", map[string]string{"queue": name})
		if want, _ := q["oldest_ready_age_s"].(float64); age != want {
			t.Errorf("queue %s: oldest ready age %v, stats says %v", name, age, want)
		}
		paused, _ := value(families, "jobq_queue_paused", map[string]string{"queue": name})
		if want := q["paused"].(bool); (paused == 1) != want {
			t.Errorf("queue %s: paused %v, stats says %v", name, paused, want)
		}
		limit, ok := value(families, "jobq_queue_concurrency_limit", map[string]string{"queue": name})
		if want, _ := q["concurrency"].(float64); limit != want || ok != (want > 0) {
			t.Errorf("queue %s: concurrency limit %v (%v), stats says %v", name, limit, ok, q["concurrency"])
		}
	}
	if age, _ := value(families, "jobq_queue_oldest_ready_age_seconds", map[string]string{"queue": "b"}); age != 60 {
		t.Errorf("queue b's pending job has waited %vs, want 60", age)
	}
	if rate, _ := value(families, "jobq_queue_rate_limit_jobs", map[string]string{"queue": "c"}); rate != 10 {
		t.Errorf("queue c's rate limit is %v jobs, want 10", rate)
	}
	if period, _ := value(families, "jobq_queue_rate_limit_period_seconds", map[string]string{"queue": "c"}); period != 60 {
		t.Errorf("queue c's rate limit period is %vs, want 60", period)
	}
	wantEnded := map[[2]string]float64{ // every queue's every final state, 0 included
		{"a", "succeeded"}: 2, {"a", "dead"}: 1, {"a", "cancelled"}: 0,
		{"b", "succeeded"}: 0, {"b", "dead"}: 0, {"b", "cancelled"}: 2,
		{"c", "succeeded"}: 0, {"c", "dead"}: 0, {"c", "cancelled"}: 0,
	}
	checkEnded := func(families map[string]*dto.MetricFamily) {
		t.Helper()
		got := map[[2]string]float64{}
		for _, m := range families["jobq_jobs_ended_total"].GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			got[[2]string{l["queue"], l["state"]}] = m.GetCounter().GetValue()
		}
		if !maps.Equal(got, wantEnded) {
			t.Errorf("jobq_jobs_ended_total = %v, want %v", got, wantEnded)
		}
	}
	checkEnded(families)

	if code := e.run("purge", "--yes"); code != 0 {
		t.Fatalf("purge: exit %d: %s", code, e.stderr)
	}
	families = e.metrics(t)
	checkEnded(families)
	for _, st := range queue.FinalStates {
		if n, _ := value(families, "jobq_jobs", map[string]string{"queue": "a", "state": string(st)}); n != 0 {
			t.Errorf("after purge, %v jobs of a %s", n, st)
		}
	}
	if n, _ := value(families, "jobq_jobs", map[string]string{"queue": "a", "state": "retrying"}); n != 1 {
		t.Errorf("after purge, %v jobs of a retrying, want the 1 purge leaves", n)
	}
}

// --output writes the file whole, readable by node_exporter (0644), and
// leaves no temporary file beside it; a name node_exporter skips is
// warned of.
func TestMetricsOutput(t *testing.T) {
	e := setup(t)
	if code := e.run("enqueue", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	dir := filepath.Join(e.dir, "textfile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "jobq.prom")
	if err := os.WriteFile(out, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := e.run("metrics", "--output", out); code != 0 || e.stdout.Len() > 0 || e.stderr.Len() > 0 {
		t.Fatalf("metrics --output: exit %d, stdout %q, stderr %q", code, e.stdout, e.stderr)
	}
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	families := parseMetrics(t, text)
	if n, _ := value(families, "jobq_jobs", map[string]string{"queue": "default", "state": "pending"}); n != 1 {
		t.Errorf("the file says %v pending jobs, want 1:\n%s", n, text)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644 for node_exporter to read", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want only jobq.prom: %v", len(entries), entries)
	}
	if code := e.run("metrics", "--output", filepath.Join(dir, "jobq.txt")); code != 0 || !strings.Contains(e.stderr.String(), "does not end in .prom") {
		t.Errorf("--output jobq.txt: exit %d, stderr %q; want 0 and a warning", code, e.stderr)
	}
	if code := e.run("metrics", "--output", filepath.Join(e.dir, "missing", "jobq.prom")); code != 1 || !strings.HasPrefix(e.stderr.String(), "jobq: metrics: ") {
		t.Errorf("--output into a missing directory: exit %d, stderr %q; want 1", code, e.stderr)
	}
}
