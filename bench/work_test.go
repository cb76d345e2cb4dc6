package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkWork measures the idle worker (issue 3): how soon a job enqueued
// while `jobq work` is idle starts (target: median under 50 ms), and how
// much CPU the idle worker uses (target: under 0.5% of one core). Pick-up
// is the job's first start minus its created_at, both from jobq's own
// records, so it includes the enqueue's commit.
func BenchmarkWork(b *testing.B) {
	w := newWorkspace(b)
	db := w.path("work.db")
	w.enqueueOne(db) // create the database before the worker starts
	worker := w.jobqCmd(db, "work")
	logFile, err := os.Create(w.path("work.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	worker.Stdout, worker.Stderr = logFile, logFile
	if err := worker.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		worker.Process.Signal(os.Interrupt)
		worker.Wait()
	}()
	time.Sleep(time.Second) // the first job is run, the worker is idle

	const idleFor = 15 * time.Second
	before := cpuTime(b, worker.Process.Pid)
	time.Sleep(idleFor)
	idle := cpuTime(b, worker.Process.Pid) - before
	share := 100 * float64(idle) / float64(idleFor)
	target(b, "work: idle CPU", fmt.Sprintf("%.3f%% of one core (%v in %v)", share, idle.Round(time.Microsecond), idleFor),
		"< 0.5%", share < 0.5)

	const samples = 40
	var pickups []time.Duration
	for range samples {
		// Enqueue at a random moment of the worker's wait, not in step with it.
		time.Sleep(time.Duration(100+rand.IntN(150)) * time.Millisecond)
		_, out := w.run(w.jobqCmd(db, "enqueue", "true"), "")
		id := strings.TrimSpace(out)
		pickups = append(pickups, w.pickup(db, id))
	}
	med := median(pickups)
	target(b, "work: pick-up of a new job, median", fmt.Sprintf("%.1f ms (p90 %.1f ms, %d jobs)", ms(med), ms(quantile(pickups, 0.9)), samples),
		"< 50 ms", med < 50*time.Millisecond)
	b.ReportMetric(ms(med), "ms/pickup")
	b.ReportMetric(share, "%cpu-idle")
}

// pickup waits for job id to succeed and returns how long after its
// creation its first attempt started.
func (w *workspace) pickup(db, id string) time.Duration {
	w.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, out := w.run(w.jobqCmd(db, "show", id, "--json"), "")
		var job struct {
			State     string    `json:"state"`
			CreatedAt time.Time `json:"created_at"`
			History   []struct {
				StartedAt time.Time `json:"started_at"`
			} `json:"history"`
		}
		if err := json.Unmarshal([]byte(out), &job); err != nil {
			w.tb.Fatalf("show %s --json: %v", id, err)
		}
		if job.State == "succeeded" && len(job.History) > 0 {
			return job.History[0].StartedAt.Sub(job.CreatedAt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.tb.Fatalf("job %s did not succeed within 30s", id)
	return 0
}

// cpuTime is the CPU time used so far by every thread of process pid, from
// /proc/PID/task/*/schedstat (nanoseconds, unlike the clock ticks of stat).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		tb.Fatalf("no schedstat for process %d: %v", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		body, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		fields := strings.Fields(string(body))
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			tb.Fatalf("%s: %q", t, body)
		}
		total += time.Duration(ns)
	}
	return total
}
