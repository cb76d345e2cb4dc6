package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"

	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/postgres/pgtest"
)

// buildTags are make test's: the binary under test is built as shipped.
const buildTags = "netgo,osusergo,sqlite_omit_load_extension"

// jobqBin is the jobq binary that TestMain builds, without the race
// detector: the workers are many short-lived processes, and what is under
// test is how they behave when killed, not data races in one of them.
var jobqBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	dir, err := os.MkdirTemp("", "jobq-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		os.Exit(1)
	}
	jobqBin = filepath.Join(dir, "jobq")
	build := exec.Command("go", "build", "-tags", buildTags, "-o", jobqBin, "github.com/jobq/jobq")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "faulttest: build jobq: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// The PostgreSQL variants' server: one for the binary (pgtest).
	code := pgtest.Main(m, func(ctx context.Context, url string) error {
		s, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			return err
		}
		return s.Close()
	})
	os.RemoveAll(dir)
	os.Exit(code)
}

// cmdTimeout bounds every jobq command a test runs but the workers: a
// command that hangs fails the test instead of holding it.
const cmdTimeout = 60 * time.Second

// queueDir is one test's queue: its own database, config and job log, and
// the environment every jobq process of the test gets.
type queueDir struct {
	t      *testing.T
	dir    string
	db     string // a SQLite file, or a PostgreSQL URL (setupPostgres)
	pg     bool
	jobLog string // where jobs append "ID ATTEMPT" lines
	marker string // unique to this test, in every command it enqueues
	env    []string
}

// setup makes a queue in a fresh temporary directory. env adds or
// overrides variables such as JOBQ_WORK_LEASE=2s.
func setup(t *testing.T, env ...string) *queueDir {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests run real workers for seconds: skipped with -short")
	}
	dir := t.TempDir() // mode 0700, as jobq wants the database's directory
	q := &queueDir{
		t:      t,
		dir:    dir,
		db:     filepath.Join(dir, "q", "jobq.db"),
		jobLog: filepath.Join(dir, "jobs.log"),
		marker: "jobqfault" + rand.Text(),
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("# every setting comes from the environment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "JOBQ_") ||
			k == "NOTIFY_SOCKET" || k == "WATCHDOG_USEC" || k == "WATCHDOG_PID" {
			continue
		}
		q.env = append(q.env, kv)
	}
	q.env = append(q.env,
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"JOBQ_CONFIG="+config,
		"JOBQ_DB="+q.db,
		"JOBQ_BUSY_TIMEOUT=10s",
		"JOBQ_WORK_LEASE=2s",
	)
	q.env = append(q.env, env...) // later values win
	t.Cleanup(func() { killMarked(q.marker) })
	return q
}

// setupPostgres is setup with the queue in a new database of the test
// PostgreSQL server, reached over TCP by every process of the test, as
// workers on several hosts reach one.
func setupPostgres(t *testing.T, env ...string) *queueDir {
	t.Helper()
	q := setup(t, env...)
	q.db, q.pg = pgtest.NewDatabase(t), true
	q.env = append(q.env, "JOBQ_DB="+q.db) // later values win
	return q
}

// result is how a jobq command ended.
type result struct {
	stdout, stderr string
	code           int
}

// jobq runs a jobq command to its end, with stdin from stdin.
func (q *queueDir) jobq(stdin string, args ...string) result {
	q.t.Helper()
	r, err := q.run(stdin, args...)
	if err != nil {
		q.t.Fatal(err)
	}
	return r
}

// run runs a jobq command to its end, and fails only when it cannot be
// run or does not end within cmdTimeout: for goroutines other than the
// test's, which must not call t.Fatal.
func (q *queueDir) run(stdin string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, jobqBin, args...)
	cmd.Env = q.env
	cmd.Dir = q.dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("jobq %s: no end within %v\nstderr: %s", strings.Join(args, " "), cmdTimeout, r.stderr)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		return r, fmt.Errorf("jobq %s: %v", strings.Join(args, " "), err)
	}
	return r, nil
}

// mustJobq runs a jobq command that must exit 0, and returns its stdout.
func (q *queueDir) mustJobq(stdin string, args ...string) string {
	q.t.Helper()
	r := q.jobq(stdin, args...)
	if r.code != 0 {
		q.t.Fatalf("jobq %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// enqueue enqueues one shell command and returns its ID.
func (q *queueDir) enqueue(command string, flags ...string) int64 {
	q.t.Helper()
	out := q.mustJobq("", append(append([]string{"enqueue"}, flags...), command)...)
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		q.t.Fatalf("jobq enqueue printed %q, not an ID", out)
	}
	return id
}

// logLine is the shell that makes a job append "ID ATTEMPT" to the job
// log: a short append with >> is one write, whole however many jobs write.
func (q *queueDir) logLine() string {
	return `echo "$JOBQ_JOB_ID $JOBQ_ATTEMPT" >> '` + q.jobLog + `'`
}

// executions reads the job log: the attempts that started, by job ID.
func (q *queueDir) executions() map[int64][]int {
	q.t.Helper()
	f, err := os.Open(q.jobLog)
	if errors.Is(err, os.ErrNotExist) {
		return map[int64][]int{}
	}
	if err != nil {
		q.t.Fatal(err)
	}
	defer f.Close()
	runs := map[int64][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var id int64
		var attempt int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &id, &attempt); err != nil {
			q.t.Fatalf("job log line %q: %v", sc.Text(), err)
		}
		runs[id] = append(runs[id], attempt)
	}
	if err := sc.Err(); err != nil {
		q.t.Fatal(err)
	}
	return runs
}

// job is a job as jobq show --json and list --json print it.
type job struct {
	ID        int64     `json:"id"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError *string   `json:"last_error"`
	History   []attempt `json:"history"`
}

// attempt is one entry of a job's history.
type attempt struct {
	Attempt    int        `json:"attempt"`
	Worker     string     `json:"worker"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	ExitCode   *int       `json:"exit_code"`
	Signal     *string    `json:"signal"`
	Error      *string    `json:"error"`
	Output     string     `json:"output"`
}

func (a attempt) String() string {
	return fmt.Sprintf("{attempt %d worker %s exit %s signal %s error %s}",
		a.Attempt, a.Worker, ptr(a.ExitCode), ptr(a.Signal), ptr(a.Error))
}

func ptr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// show returns a job with its history.
func (q *queueDir) show(id int64) job {
	q.t.Helper()
	var j job
	out := q.mustJobq("", "show", strconv.FormatInt(id, 10), "--json")
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		q.t.Fatalf("jobq show %d --json: %v\n%s", id, err, out)
	}
	return j
}

// list returns every job, without history.
func (q *queueDir) list() []job {
	q.t.Helper()
	var jobs []job
	out := q.mustJobq("", "list", "--json", "--limit", "0")
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		q.t.Fatalf("jobq list --json: %v\n%s", err, out)
	}
	return jobs
}

// worker is a jobq work process.
type worker struct {
	q    *queueDir
	name string // for messages, and its log file
	cmd  *exec.Cmd
	log  string // stdout and stderr
	done chan struct{}
	err  error // set when done is closed
}

// startWorker starts jobq work with args. Its output goes to a file that
// is printed when the test fails; it is killed at the end of the test if
// it still runs.
func (q *queueDir) startWorker(name string, args ...string) *worker {
	q.t.Helper()
	w := &worker{q: q, name: name, log: filepath.Join(q.dir, name+".log"), done: make(chan struct{})}
	out, err := os.OpenFile(w.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		q.t.Fatal(err)
	}
	defer out.Close()
	w.cmd = exec.Command(jobqBin, append([]string{"work"}, args...)...)
	w.cmd.Env = q.env
	w.cmd.Dir = q.dir
	w.cmd.Stdout, w.cmd.Stderr = out, out
	// Should the test binary die (a panic, a test timeout), its workers go
	// with it rather than run on.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		q.t.Fatal(err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	q.t.Cleanup(func() {
		w.signal(syscall.SIGKILL)
		<-w.done
		if q.t.Failed() {
			b, _ := os.ReadFile(w.log)
			q.t.Logf("log of worker %s (pid %d):\n%s", w.name, w.pid(), tail(b, 4000))
		}
	})
	return w
}

func (w *worker) pid() int { return w.cmd.Process.Pid }

// signal sends sig to the worker alone, not to its jobs, as kill(1) and
// systemd's KillMode=mixed do; nothing when it has exited.
func (w *worker) signal(sig syscall.Signal) {
	select {
	case <-w.done:
	default:
		_ = w.cmd.Process.Signal(sig)
	}
}

// wait waits up to d for the worker to exit, and returns its exit code.
func (w *worker) wait(d time.Duration) int {
	w.q.t.Helper()
	select {
	case <-w.done:
	case <-time.After(d):
		w.q.t.Fatalf("worker %s did not exit within %v", w.name, d)
	}
	var exitErr *exec.ExitError
	switch {
	case w.err == nil:
		return 0
	case errors.As(w.err, &exitErr) && exitErr.Exited():
		return exitErr.ExitCode()
	case errors.As(w.err, &exitErr):
		return -1 // killed by a signal
	}
	w.q.t.Fatalf("worker %s: %v", w.name, w.err)
	return 0
}

// stop sends SIGTERM and expects the worker to exit 0 within d.
func (w *worker) stop(d time.Duration) {
	w.q.t.Helper()
	w.signal(syscall.SIGTERM)
	if code := w.wait(d); code != 0 {
		w.q.t.Errorf("worker %s exited %d after SIGTERM, want 0", w.name, code)
	}
}

// output is what the worker logged so far.
func (w *worker) output() string {
	b, err := os.ReadFile(w.log)
	if err != nil {
		w.q.t.Fatal(err)
	}
	return string(b)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte("...\n"), b[len(b)-n:]...)
	}
	return b
}

// waitFor polls cond until it holds, and fails the test if it does not
// within d: no wait in these tests is without a deadline.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// marked returns the processes whose command line holds marker. A job's
// /bin/sh -c keeps the whole command in its argv; a child such as sleep
// shows only its own arguments, so tests mark those with a duration no
// other process uses. Zombies have no command line: they do not count,
// as they are dead, waiting for their parent (or init) to reap them.
func marked(marker string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(marker)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// uniqueSleep returns a duration for sleep(1), seconds and a random
// fraction, that no other process uses: the mark of a test's job
// processes, which are killed at the end of the test if they are left.
func (q *queueDir) uniqueSleep(seconds int) string {
	d := fmt.Sprintf("%d.%06d", seconds, mrand.IntN(1000000))
	q.t.Cleanup(func() { killMarked(d) })
	return d
}

// killMarked kills what a test left running, by its marker: the jobs of a
// worker killed by SIGKILL, for one, run on in their own process groups.
func killMarked(marker string) {
	for range 50 {
		pids := marked(marker)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// describe says which processes are left, for a failure message.
func describe(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		fmt.Fprintf(&b, "\n  pid %d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	}
	return b.String()
}

// checkIntegrity runs SQLite's own check of the whole database file; on
// PostgreSQL, which checks its own pages and keys, it checks jobq's
// counters against the jobs.
func (q *queueDir) checkIntegrity() {
	q.t.Helper()
	if q.pg {
		q.checkCounts()
		return
	}
	db, err := sql.Open("sqlite3", "file:"+q.db+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		q.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		q.t.Fatal(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			q.t.Fatal(err)
		}
		problems = append(problems, s)
	}
	if err := rows.Err(); err != nil {
		q.t.Fatal(err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		q.t.Errorf("PRAGMA integrity_check: %q, want ok", problems)
	}
	var fk int
	if err := db.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&fk); err != nil {
		q.t.Fatal(err)
	}
	if fk != 0 {
		q.t.Errorf("PRAGMA foreign_key_check: %d rows, want none", fk)
	}
}

// parallel runs f(i) for i in [0, n) at once, every one let go at the
// same moment once all are started, and waits for all of them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

// checkCounts checks that job_counts, kept by triggers, agrees with the
// jobs (PostgreSQL).
func (q *queueDir) checkCounts() {
	q.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, q.db)
	if err != nil {
		q.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var wrong int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state) j
		FULL JOIN (SELECT * FROM job_counts WHERE n != 0) c USING (queue, state)
		WHERE j.n IS DISTINCT FROM c.n`).Scan(&wrong)
	if err != nil {
		q.t.Fatal(err)
	}
	if wrong != 0 {
		q.t.Errorf("job_counts disagrees with the jobs in %d queues and states", wrong)
	}
}
