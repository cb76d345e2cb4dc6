package bench

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTaskSpooler compares jobq with task-spooler (tsp), the queue a
// shell user would pick instead. Skipped, saying how to install it, when
// tsp is absent.
//
// enqueue: one `jobq enqueue true` process against one `tsp sh -c true`
// (tsp runs argv without a shell, so it is given the same /bin/sh -c true
// as jobq runs), alternately; each tsp job is waited for, untimed, so that
// it does not run during the next measurement.
//
// e2e: N jobs from the first enqueue to the last job's end, 2 at a time.
// tsp runs jobs while they are being enqueued; jobq, which has only drain
// so far, enqueues them first, one process per job as with tsp, and also
// with one --batch process, then drains with -c 2.
func BenchmarkTaskSpooler(b *testing.B) {
	tsp := lookTaskSpooler(b)
	b.Run("enqueue", func(b *testing.B) { benchTspEnqueue(b, tsp) })
	b.Run("e2e", func(b *testing.B) { benchTspEndToEnd(b, tsp) })
}

// lookTaskSpooler finds task-spooler as tsp (Debian) or ts (upstream),
// making sure a ts is not moreutils' timestamp filter.
func lookTaskSpooler(b *testing.B) string {
	b.Helper()
	for _, name := range []string{"tsp", "ts"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, _ := exec.Command(p, "-V").CombinedOutput()
		if strings.Contains(strings.ToLower(string(out)), "spooler") {
			return p
		}
	}
	skip(b, "task-spooler not installed: run bench/install-deps.sh, or apt-get install -y task-spooler, to compare jobq with tsp")
	return ""
}

// tspServer is a task-spooler server of its own, on a socket in the
// workspace, with 2 slots and every finished job kept in its list.
type tspServer struct {
	w    *workspace
	bin  string
	env  []string
	name string
}

func newTspServer(w *workspace, bin, name string) *tspServer {
	w.tb.Helper()
	s := &tspServer{w: w, bin: bin, name: name}
	s.env = append(append([]string(nil), w.env...),
		"TS_SOCKET="+w.path(name+".sock"), "TS_SLOTS=2", "TS_MAXFINISHED=1000000", "TS_MAXCONN=100000")
	s.run("-S", "2") // starts the server
	if out := strings.TrimSpace(s.run("-S")); out != "2" {
		w.tb.Fatalf("tsp -S: %q slots, want 2", out)
	}
	w.tb.Cleanup(func() {
		cmd := s.cmd("-K")
		cmd.Run()
	})
	return s
}

func (s *tspServer) cmd(args ...string) *exec.Cmd {
	cmd := s.w.command(s.bin, args...)
	cmd.Env = s.env
	return cmd
}

func (s *tspServer) run(args ...string) string {
	s.w.tb.Helper()
	_, out := s.w.run(s.cmd(args...), "")
	return out
}

// enqueue adds `sh -c true` and returns the time its client took and the
// job's ID.
func (s *tspServer) enqueue() (time.Duration, string) {
	s.w.tb.Helper()
	d, out := s.w.run(s.cmd("sh", "-c", "true"), "")
	id := strings.TrimSpace(out)
	if _, err := strconv.Atoi(id); err != nil {
		s.w.tb.Fatalf("tsp printed %q, not a job ID", out)
	}
	return d, id
}

// wait waits for the job id and fails unless it exited 0.
func (s *tspServer) wait(id string) {
	s.w.tb.Helper()
	if _, _, errOut, err := s.w.runErr(s.cmd("-w", id), ""); err != nil {
		s.w.tb.Fatalf("tsp job %s: %v\n%s", id, err, errOut)
	}
}

// waitAll polls the job list until no job is queued or running, and
// returns how many finished with exit status 0, and how many in all.
func (s *tspServer) waitAll() (ok, total int) {
	s.w.tb.Helper()
	for {
		ok, total = 0, 0
		busy := false
		for _, line := range strings.Split(s.run("-l"), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			total++
			switch {
			case f[1] != "finished" && f[1] != "skipped":
				busy = true
			case f[1] == "finished" && f[3] == "0":
				ok++
			}
		}
		if !busy {
			return ok, total
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func benchTspEnqueue(b *testing.B, tsp string) {
	w := newWorkspace(b)
	s := newTspServer(w, tsp, "enq")
	db := w.path("jobq.db")
	w.enqueueOne(db)
	var jq, ts []time.Duration
	tspOne := func() time.Duration {
		d, id := s.enqueue()
		s.wait(id)
		return d
	}
	for range 5 {
		w.enqueueOne(db)
		tspOne()
	}
	b.ResetTimer()
	for i := range *flagEnqueueN {
		if i%2 == 0 {
			jq = append(jq, w.enqueueOne(db))
			ts = append(ts, tspOne())
		} else {
			ts = append(ts, tspOne())
			jq = append(jq, w.enqueueOne(db))
		}
	}
	b.StopTimer()
	if ok, total := s.waitAll(); ok != total || total != 5+*flagEnqueueN {
		b.Fatalf("tsp: %d of %d jobs exited 0, want %d", ok, total, 5+*flagEnqueueN)
	}
	mj, mt := median(jq), median(ts)
	r := ratio(mj, mt)
	b.Logf("jobq enqueue: %s", spread(jq))
	b.Logf("tsp enqueue:  %s", spread(ts))
	b.ReportMetric(ms(mj), "ms/enqueue")
	b.ReportMetric(ms(mt), "ms/enqueue-tsp")
	b.ReportMetric(r, "x-tsp")
	note(b, "enqueue vs tsp enqueue", fmt.Sprintf("%.2fx (jobq %.2f ms, tsp %.2f ms)", r, ms(mj), ms(mt)))
}

func benchTspEndToEnd(b *testing.B, tsp string) {
	w := newWorkspace(b)
	n := *flagTspN
	jobsFile := w.writeFile("true.txt", lines("true", n))

	tspRun := func(round int) time.Duration {
		s := newTspServer(w, tsp, fmt.Sprintf("e2e%d", round))
		start := time.Now()
		for range n {
			s.enqueue()
		}
		ok, total := s.waitAll()
		d := time.Since(start)
		if ok != n || total != n {
			b.Fatalf("tsp: %d of %d jobs exited 0, want %d", ok, total, n)
		}
		s.run("-K")
		return d
	}
	jobqRun := func(round int, batch bool) time.Duration {
		db := w.path(fmt.Sprintf("e2e-%d-%v.db", round, batch))
		defer w.removeDB(db)
		start := time.Now()
		if batch {
			_, out := w.run(w.jobqCmd(db, "enqueue", "--batch"), jobsFile)
			if got := countLines(out); got != n {
				b.Fatalf("enqueue --batch printed %d IDs, want %d", got, n)
			}
		} else {
			for range n {
				w.enqueueOne(db)
			}
		}
		w.run(w.jobqCmd(db, "drain", "-c", "2"), "")
		d := time.Since(start)
		if got := w.countJobs(db, "succeeded"); got != n {
			b.Fatalf("after drain -c 2, %d of %d jobs succeeded", got, n)
		}
		return d
	}

	var ts, jq, jb []time.Duration
	b.ResetTimer()
	for i := range *flagTspRuns {
		steps := []func(){
			func() { ts = append(ts, tspRun(i)) },
			func() { jq = append(jq, jobqRun(i, false)) },
			func() { jb = append(jb, jobqRun(i, true)) },
		}
		for j := range steps {
			steps[(i+j)%len(steps)]()
		}
	}
	b.StopTimer()
	mt, mj, mb := median(ts), median(jq), median(jb)
	b.Logf("tsp, %d enqueues while running:       %s", n, spread(ts))
	b.Logf("jobq, %d enqueue processes + drain:  %s", n, spread(jq))
	b.Logf("jobq, enqueue --batch + drain:        %s", spread(jb))
	b.ReportMetric(seconds(mt), "s/e2e-tsp")
	b.ReportMetric(seconds(mj), "s/e2e")
	b.ReportMetric(seconds(mb), "s/e2e-batch")
	b.ReportMetric(ratio(mj, mt), "x-tsp")
	b.ReportMetric(ratio(mb, mt), "x-tsp-batch")
	note(b, fmt.Sprintf("%d true jobs end to end, 2 at a time, vs tsp", n),
		fmt.Sprintf("%.2fx one process per job (jobq %.2f s, tsp %.2f s); %.2fx with --batch (%.2f s)",
			ratio(mj, mt), seconds(mj), seconds(mt), ratio(mb, mt), seconds(mb)))
}
