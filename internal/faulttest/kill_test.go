package faulttest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// workerLost is the error of an attempt whose worker's lease expired.
const workerLost = "worker lost: lease expired"

// TestKill9Workers kills worker processes with SIGKILL, again and again,
// while three of them run hundreds of short jobs, restarting each one at
// once as systemd would. No job may be lost: every one ends succeeded.
// A job may run more than once, but only when a kill cut an attempt
// short, and then its history shows that attempt failed as "worker lost",
// under the killed worker's name; so the extra executions are bounded by
// the kills times each worker's concurrency. SQLite must come out of it
// with a sound file.
func TestKill9Workers(t *testing.T) {
	kill9Workers(t, setup(t, "JOBQ_WORK_LEASE=3s"))
}

// TestKill9WorkersPostgres is TestKill9Workers with the queue on
// PostgreSQL: the workers are processes reaching the server over TCP, as
// workers on several hosts would.
func TestKill9WorkersPostgres(t *testing.T) {
	kill9Workers(t, setupPostgres(t, "JOBQ_WORK_LEASE=3s"))
}

func kill9Workers(t *testing.T, q *queueDir) {
	const (
		jobs        = 300
		workers     = 3
		concurrency = 2
		kills       = 20
	)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("random seed %d", seed)

	// The marker names the jobs' shells, to find what a killed worker left
	// running; the sleeps are short and end by themselves.
	var batch strings.Builder
	for i := range jobs {
		fmt.Fprintf(&batch, ": %s; %s; sleep 0.%02d\n", q.marker, q.logLine(), 2+i%9)
	}
	out := q.mustJobq(batch.String(), "enqueue", "--batch", "--max-attempts", "50", "--backoff", "0")
	ids := parseIDs(t, out)
	if len(ids) != jobs {
		t.Fatalf("enqueue --batch printed %d IDs, want %d", len(ids), jobs)
	}

	ws := make([]*worker, workers)
	start := func(i, gen int) {
		ws[i] = q.startWorker(fmt.Sprintf("w%d.%d", i, gen), "-c", strconv.Itoa(concurrency))
	}
	for i := range ws {
		start(i, 0)
	}

	// The kills are spread over the run by its progress, not by the clock,
	// so that on a fast machine or a slow one they fall while jobs are
	// running and more are waiting: the k-th once k/(kills+5) of the jobs
	// have started, then after a random pause.
	killed := map[string]bool{} // worker names, as history shows them: host:pid
	var startedAtKills []int
	for k := range kills {
		waitFor(t, time.Minute, fmt.Sprintf("kill %d: jobs started", k+1), func() bool {
			return len(q.executions()) >= (k+1)*jobs/(kills+5)
		})
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		i := rng.IntN(workers)
		w := ws[i]
		w.signal(syscall.SIGKILL)
		if code := w.wait(10 * time.Second); code != -1 {
			t.Fatalf("worker %s exited %d before SIGKILL reached it", w.name, code)
		}
		killed[workerName(t, w.pid())] = true
		start(i, k+1)
		startedAtKills = append(startedAtKills, len(q.executions()))
	}
	t.Logf("jobs started at each kill: %v", startedAtKills)

	waitFor(t, 3*time.Minute, "every job final", func() bool {
		for _, j := range q.list() {
			if j.State != "succeeded" && j.State != "dead" && j.State != "cancelled" {
				return false
			}
		}
		return true
	})
	for _, w := range ws {
		w.stop(30 * time.Second)
	}

	all := q.list()
	got := make([]int64, 0, len(all))
	for _, j := range all {
		got = append(got, j.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Fatalf("jobs in the queue: %v\nwant the %d enqueued: %v", got, len(ids), ids)
	}

	runs := q.executions()
	lost := 0
	for _, id := range ids {
		j := q.show(id)
		lost += checkKilledHistory(t, j, runs[id], killed)
	}
	if max := kills * concurrency; lost > max {
		t.Errorf("%d attempts lost to kills, more than %d kills of workers running %d jobs each can cut short",
			lost, kills, concurrency)
	}
	if lost == 0 {
		t.Errorf("no attempt was lost to %d kills: the kills did not hit running jobs, the test tests nothing", kills)
	}
	t.Logf("%d kills cut %d attempts short", kills, lost)
	q.checkIntegrity()
}

// checkKilledHistory checks one job of TestKill9Workers: succeeded at its
// last attempt, every earlier attempt lost by a killed worker, each
// attempt started at most once (runs are the attempts the job log shows
// started). It returns the number of attempts lost.
func checkKilledHistory(t *testing.T, j job, runs []int, killed map[string]bool) (lost int) {
	t.Helper()
	if j.State != "succeeded" || len(j.History) != j.Attempts || j.Attempts == 0 {
		t.Errorf("job %d: %s after %d attempts, history %v; want succeeded, one entry per attempt",
			j.ID, j.State, j.Attempts, j.History)
		return 0
	}
	for i, a := range j.History {
		last := i == len(j.History)-1
		switch {
		case a.Attempt != i+1:
			t.Errorf("job %d: history entry %d is attempt %d", j.ID, i+1, a.Attempt)
		case last && (a.ExitCode == nil || *a.ExitCode != 0 || a.Error != nil):
			t.Errorf("job %d: last attempt %v, want exit 0", j.ID, a)
		case !last && (a.Error == nil || *a.Error != workerLost || !killed[a.Worker]):
			t.Errorf("job %d: attempt %v failed, want only %q by a worker killed with SIGKILL", j.ID, a, workerLost)
		case !last:
			lost++
		}
	}
	seen := map[int]bool{}
	for _, n := range runs {
		if n < 1 || n > j.Attempts || seen[n] {
			t.Errorf("job %d: started as attempts %v, with %d attempts in its history", j.ID, runs, j.Attempts)
			break
		}
		seen[n] = true
	}
	if !seen[j.Attempts] {
		t.Errorf("job %d: its succeeded attempt %d never started (job log: %v)", j.ID, j.Attempts, runs)
	}
	return lost
}

// workerName is how a worker names itself in leases and history.
func workerName(t *testing.T, pid int) string {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return host + ":" + strconv.Itoa(pid)
}

// parseIDs reads the IDs enqueue printed, one a line, sorted.
func parseIDs(t *testing.T, out string) []int64 {
	t.Helper()
	var ids []int64
	for _, f := range strings.Fields(out) {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("enqueue printed %q, not IDs", out)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
