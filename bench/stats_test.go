package bench

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var flagStatsJobs = flag.Int("jobq.statsjobs", 1_000_000, "jobs in the database jobq stats sums up")

// BenchmarkStats times `jobq stats` on a database of a million jobs as a
// long-lived queue holds them (issue 4; target: under 100 ms): nine in ten
// ended over the last week, a backlog of ready jobs in one queue, a few
// newer ones in another, some scheduled for later and some dead. The
// baseline is the plain count a script would run with the sqlite3 shell,
// SELECT queue, state, count(*) ... GROUP BY, on the same file.
func BenchmarkStats(b *testing.B) {
	sqlite3 := lookSQLite3(b)
	w := newWorkspace(b)
	db := w.path("stats.db")
	n := *flagStatsJobs

	// The jobs go in through jobq; the sqlite3 shell then ends most of
	// them, as workers would have, through jobq's own triggers (its
	// counters and event log follow).
	lines := w.path("lines.txt")
	f, err := os.Create(lines)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(bw, "echo job %d\n", i)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	start := time.Now()
	w.run(w.jobqCmd(db, "enqueue", "--batch", "-q", "bulk"), lines)
	const week = 7 * 24 * 3600 * 1000
	w.run(w.command(sqlite3, "-batch", db, fmt.Sprintf(`PRAGMA busy_timeout = 10000;
UPDATE jobs SET
	queue = 'q' || (id %% 5),
	state = CASE WHEN id %% 100 < 97 THEN 'succeeded' ELSE 'dead' END,
	attempts = 1, exit_code = CASE WHEN id %% 100 < 97 THEN 0 ELSE 1 END,
	finished_at = %[1]s - (%[2]d - id) * (%[3]d / %[2]d),
	updated_at = %[1]s - (%[2]d - id) * (%[3]d / %[2]d)
WHERE id <= %[2]d * 9 / 10;
UPDATE jobs SET state = 'scheduled', run_at = %[1]s + 3600000
WHERE id > %[2]d * 9 / 10 AND id %% 10 = 0;`, nowMs, n, week)), "")
	for range 5 {
		w.enqueueOne(db) // jobs of the default queue, behind the backlog
	}
	note(b, "stats: database set-up", fmt.Sprintf("%d jobs in %.1f s", n, time.Since(start).Seconds()))

	// What stats reports must be what is there.
	_, out := w.run(w.jobqCmd(db, "stats", "--json"), "")
	var stats []map[string]any
	if err := json.Unmarshal([]byte(out), &stats); err != nil {
		b.Fatalf("stats --json: %v\n%s", err, out)
	}
	total := 0.0
	for _, q := range stats {
		for _, st := range []string{"pending", "scheduled", "waiting", "running", "retrying", "succeeded", "dead", "cancelled"} {
			total += q[st].(float64)
		}
	}
	if int(total) != n+5 {
		b.Fatalf("stats counts %v jobs, the database holds %d:\n%s", total, n+5, out)
	}

	const runs = 21
	var jobq, plain []time.Duration
	for i := range runs {
		order := []func(){
			func() { d, _ := w.run(w.jobqCmd(db, "stats"), ""); jobq = append(jobq, d) },
			func() {
				d, _ := w.run(w.command(sqlite3, "-batch", db, "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state"), "")
				plain = append(plain, d)
			},
		}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, run := range order {
			run()
		}
	}
	med, base := median(jobq), median(plain)
	target(b, "stats: one jobq stats, "+strings.ReplaceAll(fmt.Sprint(n), "000000", " million")+" jobs, median",
		fmt.Sprintf("%.1f ms (p90 %.1f ms); sqlite3 GROUP BY count %.1f ms, ratio %.2fx", ms(med), ms(quantile(jobq, 0.9)), ms(base), ratio(med, base)),
		"< 100 ms", med < 100*time.Millisecond)
	b.ReportMetric(ms(med), "ms/stats")
}
