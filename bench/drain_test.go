package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/postgres/pgtest"
)

// BenchmarkDrain times `jobq drain -c 2` running N `true` jobs, enqueued
// beforehand with --batch and not timed, against `xargs -P2 -n1 sh -c true`
// forking the same /bin/sh -c true N times (target, issue 10: jobq at
// least 0.83 of xargs's speed). Runs alternate, the order swapping each
// round; medians are compared. It also reports jobq's own CPU per job
// (user+sys of the drain process, its jobs excluded), which does not
// depend on how fast the machine starts processes.
func BenchmarkDrain(b *testing.B) {
	w := newWorkspace(b)
	n := *flagDrainN
	jobsFile := w.writeFile("true.txt", lines("true", n))
	warmFile := w.writeFile("warm.txt", lines("true", 100))
	var seq strings.Builder
	for i := 1; i <= n; i++ {
		seq.WriteString(strconv.Itoa(i) + "\n")
	}
	seqFile := w.writeFile("seq.txt", []byte(seq.String()))

	var cpus []time.Duration
	drain := func(round int, jobsFile string, n int) time.Duration {
		d, cpu := w.drainSQLite(round, jobsFile, n)
		cpus = append(cpus, cpu)
		return d
	}
	xargs := func() time.Duration {
		// -n1 gives each sh one argument, which becomes its $0: the same
		// `/bin/sh -c true` that jobq runs per job.
		d, _, errOut, err := w.runErr(w.command("xargs", "-P2", "-n1", "/bin/sh", "-c", "true"), seqFile)
		if err != nil {
			b.Fatalf("xargs: %v\n%s", err, errOut)
		}
		return d
	}

	drain(-1, warmFile, 100) // warm up: page cache, binary
	cpus = nil
	b.ResetTimer()
	xa, jq := alternate(*flagDrainRuns,
		func(int) time.Duration { return xargs() },
		func(i int) time.Duration { return drain(i, jobsFile, n) })
	b.StopTimer()

	mj, mx := median(jq), median(xa)
	r := ratio(mx, mj) // speed: jobq's jobs/s over xargs's
	b.Logf("jobq drain -c 2: %s", spread(jq))
	b.Logf("xargs -P2:       %s", spread(xa))
	b.ReportMetric(seconds(mj), "s/drain")
	b.ReportMetric(seconds(mx), "s/xargs")
	b.ReportMetric(float64(n)/seconds(mj), "jobs/s")
	b.ReportMetric(r, "speed-of-xargs")
	b.ReportMetric(ms(median(cpus))*1000, "cpu-µs/job")
	target(b, fmt.Sprintf("drain -c 2 of %d true jobs vs xargs -P2", n),
		fmt.Sprintf("%.2f of xargs's speed (jobq %.2f s = %.2f ms/job, xargs %.2f s = %.2f ms/job)", r, seconds(mj), ms(mj)/float64(n), seconds(mx), ms(mx)/float64(n)),
		">= 0.83", r >= 0.83)
	note(b, "drain -c 2: jobq's own CPU per job (user+sys, jobs excluded)",
		fmt.Sprintf("%.0f µs (runs: %v)", ms(median(cpus))*1000, cpus))
}

// drain enqueues the n jobs of jobsFile into db (a file or a postgres://
// URL) with one `enqueue --batch`, not timed, then runs `jobq drain -c 2`
// on it and checks that all n succeeded. It returns the drain's wall time
// and jobq's own CPU per job (user+sys of the drain process, its jobs
// excluded).
func (w *workspace) drain(db, jobsFile string, n int) (wall, cpuPerJob time.Duration) {
	w.tb.Helper()
	_, out := w.run(w.jobqCmd(db, "enqueue", "--batch"), jobsFile)
	if got := countLines(out); got != n {
		w.tb.Fatalf("enqueue --batch printed %d IDs, want %d", got, n)
	}
	wall, cpu := w.runCPU(w.jobqCmd(db, "drain", "-c", "2"), "")
	if got := w.countJobs(db, "succeeded"); got != n {
		w.tb.Fatalf("after drain -c 2, %d of %d jobs succeeded", got, n)
	}
	return wall, cpu / time.Duration(n)
}

// BenchmarkDrainPostgres is BenchmarkDrain's `jobq drain -c 2` of N true
// jobs on PostgreSQL (--db postgres://..., issue 12) against the same
// drain on SQLite, in the same run: runs alternate, the order swapping
// each round, and medians are compared. Each PostgreSQL run gets a new
// database of pgtest's throwaway server (its template already migrated),
// or of JOBQ_TEST_POSTGRES_URL's server. That test server runs with fsync
// and synchronous_commit off while jobq's SQLite commits durably
// (synchronous=FULL), so the ratio favours PostgreSQL by what its flushes
// would cost. jobq's own CPU per job is reported for both; the server's
// CPU is not in it.
func BenchmarkDrainPostgres(b *testing.B) {
	if ok, why := pgtest.Available(); !ok {
		skip(b, "no PostgreSQL server: "+why)
	}
	w := newWorkspace(b)
	n := *flagDrainN
	jobsFile := w.writeFile("true.txt", lines("true", n))
	warmFile := w.writeFile("warm.txt", lines("true", 100))

	var sqCPU, pgCPU []time.Duration
	sqliteDrain := func(round int, jobsFile string, n int) time.Duration {
		d, cpu := w.drainSQLite(round, jobsFile, n)
		sqCPU = append(sqCPU, cpu)
		return d
	}
	pgDrain := func(jobsFile string, n int) time.Duration {
		d, cpu := w.drain(pgtest.NewDatabase(b), jobsFile, n)
		pgCPU = append(pgCPU, cpu)
		return d
	}

	sqliteDrain(-1, warmFile, 100) // warm up: page cache, binary, server
	pgDrain(warmFile, 100)
	sqCPU, pgCPU = nil, nil
	b.ResetTimer()
	sq, pg := alternate(*flagDrainRuns,
		func(i int) time.Duration { return sqliteDrain(i, jobsFile, n) },
		func(int) time.Duration { return pgDrain(jobsFile, n) })
	b.StopTimer()

	msq, mpg := median(sq), median(pg)
	r := ratio(msq, mpg) // speed: PostgreSQL's jobs/s over SQLite's
	b.Logf("drain -c 2, PostgreSQL: %s", spread(pg))
	b.Logf("drain -c 2, SQLite:     %s", spread(sq))
	b.ReportMetric(seconds(mpg), "s/drain-postgres")
	b.ReportMetric(seconds(msq), "s/drain-sqlite")
	b.ReportMetric(r, "postgres-speed-of-sqlite")
	b.ReportMetric(ms(median(pgCPU))*1000, "pg-cpu-µs/job")
	b.ReportMetric(ms(median(sqCPU))*1000, "sqlite-cpu-µs/job")
	server := "pgtest's server: fsync off"
	if os.Getenv(pgtest.EnvURL) != "" {
		server = "server of " + pgtest.EnvURL
	}
	note(b, fmt.Sprintf("drain -c 2 of %d true jobs, PostgreSQL vs SQLite", n),
		fmt.Sprintf("%.2f of SQLite's speed (PostgreSQL %.2f s = %.2f ms/job, SQLite %.2f s = %.2f ms/job; %s)",
			r, seconds(mpg), ms(mpg)/float64(n), seconds(msq), ms(msq)/float64(n), server))
	note(b, "drain -c 2 on PostgreSQL: jobq's own CPU per job (user+sys, jobs and server excluded)",
		fmt.Sprintf("%.0f µs (runs: %v), SQLite %.0f µs (runs: %v)", ms(median(pgCPU))*1000, pgCPU, ms(median(sqCPU))*1000, sqCPU))
}

// drainSQLite drains jobsFile's n jobs with `jobq drain -c 2` into a new
// SQLite database for this round, removed after; it returns the wall time
// and jobq's own CPU.
func (w *workspace) drainSQLite(round int, jobsFile string, n int) (time.Duration, time.Duration) {
	db := w.path(fmt.Sprintf("drain-%d.db", round))
	defer w.removeDB(db)
	return w.drain(db, jobsFile, n)
}

// alternate runs a and b runs times each, a first in even rounds and b
// first in odd ones, so that neither always runs on the machine the other
// left, and returns their times.
func alternate(runs int, a, b func(round int) time.Duration) (as, bs []time.Duration) {
	for i := range runs {
		if i%2 == 0 {
			as = append(as, a(i))
			bs = append(bs, b(i))
		} else {
			bs = append(bs, b(i))
			as = append(as, a(i))
		}
	}
	return as, bs
}
