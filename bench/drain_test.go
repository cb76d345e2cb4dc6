package bench

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
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
		db := w.path(fmt.Sprintf("drain-%d.db", round))
		defer w.removeDB(db)
		_, out := w.run(w.jobqCmd(db, "enqueue", "--batch"), jobsFile)
		if got := countLines(out); got != n {
			b.Fatalf("enqueue --batch printed %d IDs, want %d", got, n)
		}
		d, cpu := w.runCPU(w.jobqCmd(db, "drain", "-c", "2"), "")
		cpus = append(cpus, cpu/time.Duration(n))
		if got := w.countJobs(db, "succeeded"); got != n {
			b.Fatalf("after drain -c 2, %d of %d jobs succeeded", got, n)
		}
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

	var jq, xa []time.Duration
	drain(-1, warmFile, 100) // warm up: page cache, binary
	cpus = nil
	b.ResetTimer()
	for i := range *flagDrainRuns {
		if i%2 == 0 {
			xa = append(xa, xargs())
			jq = append(jq, drain(i, jobsFile, n))
		} else {
			jq = append(jq, drain(i, jobsFile, n))
			xa = append(xa, xargs())
		}
	}
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
