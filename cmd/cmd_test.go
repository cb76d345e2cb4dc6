package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// testEnv is one command run's world: buffers, a fixed clock, its own
// environment and a real SQLite database in a temporary directory. Tests
// that use it run in parallel: nothing of it is the process's.
type testEnv struct {
	f              *Factory
	stdout, stderr *bytes.Buffer
	dir            string
	env            map[string]string // what f.LookupEnv sees
}

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) *testEnv {
	t.Helper()
	t.Parallel()
	dir := t.TempDir()
	e := &testEnv{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": dir,
		"JOBQ_CONFIG":     filepath.Join(dir, "config.yaml"), // empty: none of the machine's (/etc/jobq)
		"XDG_STATE_HOME":  filepath.Join(dir, "state"),
		"JOBQ_DB":         filepath.Join(dir, "q", "jobq.db"),
		"FROM_ENV":        "x",
	}
	e.f = &Factory{
		IO:    IOStreams{In: strings.NewReader(""), Out: e.stdout, ErrOut: e.stderr},
		Now:   func() time.Time { return testNow },
		Getwd: func() (string, error) { return dir, nil },
		LookupEnv: func(k string) (string, bool) {
			v, ok := e.env[k]
			return v, ok
		},
		Environ: func() []string { return []string{"PATH=/usr/bin:/bin"} },
	}
	return e
}

// run runs jobq with args and returns its exit status. Each run starts
// from what a new process knows: no config loaded yet (flags bound to
// config keys are read again), no command reached.
func (e *testEnv) run(args ...string) int {
	e.stdout.Reset()
	e.stderr.Reset()
	e.f.cfg, e.f.flags, e.f.configFlag, e.f.reachedRun = nil, nil, "", false
	return Run(context.Background(), e.f, args)
}

func (e *testEnv) job(t *testing.T, id int64) *queue.Job {
	t.Helper()
	store, err := e.f.OpenStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	job, err := store.JobGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestEnqueueBuildsTheJobFromFlags(t *testing.T) {
	e := setup(t)
	if code := e.run("enqueue", "-q", "mail", "-p", "3", "--in", "90s", "--max-attempts", "4",
		"--timeout", "1h30m", "--env", "A=1", "--env", "FROM_ENV", "--env", "MISSING", "--", "send", "--to", "a b"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.stderr)
	}
	if e.stdout.String() != "1\n" {
		t.Fatalf("stdout = %q, want the ID", e.stdout)
	}
	job := e.job(t, 1)
	want := queue.Job{
		ID: 1, Queue: "mail", State: queue.StateScheduled, Priority: 3, Command: "send --to 'a b'",
		Argv: []string{"send", "--to", "a b"}, Dir: e.dir, Env: []string{"A=1", "FROM_ENV=x"},
		RunAt: testNow.Add(90 * time.Second), MaxAttempts: 4, Timeout: 90 * time.Minute,
		Backoff: 10 * time.Second, MaxBackoff: time.Hour,
	}
	if job.Queue != want.Queue || job.State != want.State || job.Priority != want.Priority ||
		job.Command != want.Command || strings.Join(job.Argv, "|") != strings.Join(want.Argv, "|") ||
		job.Dir != want.Dir || strings.Join(job.Env, " ") != strings.Join(want.Env, " ") ||
		!job.RunAt.Equal(want.RunAt) || job.MaxAttempts != want.MaxAttempts ||
		job.Timeout != want.Timeout || job.Backoff != want.Backoff || job.MaxBackoff != want.MaxBackoff {
		t.Errorf("job = %+v\nwant  %+v", job, want)
	}
}

func TestEnqueueAtUsesTheClock(t *testing.T) {
	e := setup(t)
	// 11:00 has passed at testNow (12:00): its next occurrence is tomorrow.
	if code := e.run("enqueue", "--at", "11:00", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.stderr)
	}
	if got, want := e.job(t, 1).RunAt, time.Date(2026, 11, 23, 11, 0, 0, 0, time.Local); !got.Equal(want) {
		t.Errorf("run_at = %v, want %v", got, want)
	}
}

func TestExitStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"enqueue", "--nope", "true"}, 2, "jobq: unknown flag: --nope (see 'jobq enqueue --help')\n"},
		{[]string{"show", "7"}, 1, "jobq: job 7: not found\n"},
		{[]string{"list", "--state", "done"}, 2, "jobq: invalid state \"done\""},
		{[]string{"nope"}, 2, "jobq: unknown command \"nope\" for \"jobq\""},
		{[]string{"lsit"}, 2, "jobq: unknown command \"lsit\" for \"jobq\" (did you mean list or wait?) (see 'jobq --help')"},
		{[]string{"list", "--since", "soon"}, 2, "jobq: --since: invalid time \"soon\""},
		{[]string{"retry"}, 2, "jobq: name the jobs to retry"},
		{[]string{"retry", "--state", "pending"}, 2, "jobq: cannot retry pending jobs"},
		{[]string{"retry", "7"}, 1, "jobq: job 7: not found\n"},
		{[]string{"retry", "7", "--dry-run"}, 1, "jobq: dry run: would retry 0 jobs"},
		{[]string{"purge", "--state", "running"}, 2, "jobq: purge never deletes running jobs"},
		{[]string{"purge", "--yes"}, 0, "jobq: no job matches; nothing was deleted\n"},
		{[]string{"stats", "x"}, 2, "jobq: stats takes no arguments, not \"x\""},
		{[]string{"events", "--job", "x"}, 2, "jobq: --job: invalid job ID"},
		{[]string{"events", "--job", "7"}, 1, "jobq: job 7: not found\n"},
		{[]string{"progress", "101"}, 2, "jobq: invalid percent \"101\""},
		{[]string{"enqueue", "--unique", "a\xffb", "true"}, 2, "jobq: the unique key is not valid UTF-8"},
		{[]string{"progress", "50"}, 2, "jobq: JOBQ_JOB_ID is not set"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := setup(t)
			if code := e.run(tt.args...); code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, e.stderr)
			}
			if !strings.HasPrefix(e.stderr.String(), tt.stderr) || strings.Count(e.stderr.String(), "\n") > 1 {
				t.Errorf("stderr = %q, want one line starting %q", e.stderr, tt.stderr)
			}
		})
	}
}

func TestReportErrorBusy(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := errors.Join(errors.New("enqueue"), queue.ErrBusy)
	if code := reportError(&buf, NewRootCmd(NewFactory()), err); code != exitBusy {
		t.Errorf("exit %d, want %d", code, exitBusy)
	}
	if !strings.Contains(buf.String(), "try again") {
		t.Errorf("message %q does not say to try again", buf.String())
	}
}

func TestPanicIsOneLine(t *testing.T) {
	e := setup(t)
	e.f.Now = func() time.Time { panic("clock broke") }
	if code := e.run("enqueue", "true"); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if got := e.stderr.String(); got != "jobq: internal error: clock broke (please report it)\n" {
		t.Errorf("stderr = %q", got)
	}
}

func TestLastLines(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a\nb\nc\n", "b\nc\n"},
		{"a\nb\nc", "b\nc\n"},
		{"c", "c\n"},
		{"a\nb\n", "a\nb\n"},
		{"\n\n", "\n"},
	}
	for _, tt := range tests {
		if got := string(lastLines([]byte(tt.in), 2)); got != tt.want {
			t.Errorf("lastLines(%q, 2) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", time.Minute: "1m", 10 * time.Second: "10s",
		0: "0s", 25 * time.Hour: "25h", time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// On a terminal, purge asks first: only y or yes deletes; any other
// answer (or none) deletes nothing and exits 1.
func TestPurgeAsksOnATerminal(t *testing.T) {
	e := setup(t)
	e.f.IO.CanPrompt = true
	e.f.Now = time.Now // purge counts the jobs that ended before it started
	for range 2 {
		if code := e.run("enqueue", "--max-attempts", "1", "exit 1"); code != 0 {
			t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
		}
	}
	if code := e.run("drain"); code != 1 {
		t.Fatalf("drain: exit %d, want 1: %s", code, e.stderr)
	}
	for _, answer := range []string{"", "\n", "n\n", "no\n", "yes please\n"} {
		e.f.IO.In = strings.NewReader(answer)
		if code := e.run("purge", "--state", "dead"); code != 1 {
			t.Errorf("answer %q: exit %d, want 1", answer, code)
		}
		if want := "Delete 2 jobs (dead) and their history? [y/N] jobq: nothing was deleted\n"; e.stderr.String() != want {
			t.Errorf("answer %q: stderr %q, want %q", answer, e.stderr, want)
		}
		if e.job(t, 1).State != queue.StateDead {
			t.Fatalf("answer %q deleted job 1", answer)
		}
	}
	e.f.IO.In = strings.NewReader("Y\n")
	if code := e.run("purge", "--state", "dead", "-q", "default"); code != 0 {
		t.Fatalf("answer Y: exit %d: %s", code, e.stderr)
	}
	if want := "Delete 2 jobs (dead; in default) and their history? [y/N] jobq: deleted 2 jobs\n"; e.stderr.String() != want {
		t.Errorf("stderr %q, want %q", e.stderr, want)
	}
	if e.stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing: purge's messages go to stderr", e.stdout)
	}
}

// syncBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// events -f without --job follows until interrupted, printing the
// transitions that other commands make through their own connections to
// the database (as another process would), and then exits 0.
func TestEventsFollowUntilInterrupted(t *testing.T) {
	e := setup(t)
	if code := e.run("enqueue", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	follower := *e.f
	out := &syncBuffer{}
	follower.IO.Out, follower.IO.ErrOut = out, out
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- Run(ctx, &follower, []string{"events", "-f"}) }()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("events -f printed %q, never %q", out, what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("  1  - -> pending  attempt 0\n")
	if code := e.run("enqueue", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	waitFor("  2  - -> pending  attempt 0\n")
	if code := e.run("cancel", "1"); code != 0 {
		t.Fatalf("cancel: exit %d: %s", code, e.stderr)
	}
	waitFor("  1  pending -> cancelled  attempt 0  cancelled\n")
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("events -f exited %d when interrupted, want 0: %s", code, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("events -f did not stop when interrupted")
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("events -f printed %d lines, want each of the 3 transitions once:\n%s", n, out)
	}
}

// wait -q waits for the jobs of the queue not ended when it started, not
// for those enqueued later; on a terminal it says how each one ended.
func TestWaitQueue(t *testing.T) {
	e := setup(t)
	for _, args := range [][]string{
		{"enqueue", "-q", "batch", "--max-attempts", "1", "true"},
		{"enqueue", "-q", "batch", "--max-attempts", "1", "exit 3"},
		{"enqueue", "-q", "other", "--in", "1h", "true"},
	} {
		if code := e.run(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, e.stderr)
		}
	}
	waiter := *e.f
	out := &syncBuffer{}
	waiter.IO.Out, waiter.IO.ErrOut, waiter.IO.ErrTerminal = out, out, true
	done := make(chan int)
	go func() {
		done <- Run(context.Background(), &waiter, []string{"wait", "-q", "batch", "--timeout", "60s"})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "jobq: waiting for 2 jobs of queue batch\n") {
		if time.Now().After(deadline) {
			t.Fatalf("wait -q printed %q, never what it waits for", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Enqueued after wait started: not waited for (it never runs here).
	if code := e.run("enqueue", "-q", "batch", "--in", "1h", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	if code := e.run("drain", "-q", "batch"); code != 1 {
		t.Fatalf("drain: exit %d, want 1 (job 2 went dead): %s", code, e.stderr)
	}
	select {
	case code := <-done:
		if code != exitFailure {
			t.Errorf("wait -q exited %d, want 1: job 2 ended dead", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("wait -q did not return once the jobs it waited for ended")
	}
	want := "jobq: waiting for 2 jobs of queue batch\n" +
		"jobq: job 1 succeeded (1 of 2 ended)\n" +
		"jobq: job 2 ended dead (2 of 2 ended)\n"
	if out.String() != want {
		t.Errorf("wait -q on a terminal printed\n%s\nwant\n%s", out, want)
	}
}

// Settings and the default database come from the Factory's environment,
// not the process's: tests run side by side, each with its own.
func TestEnvironmentComesFromTheFactory(t *testing.T) {
	e := setup(t)
	delete(e.env, "JOBQ_DB")
	e.env["JOBQ_DEFAULTS_MAX_ATTEMPTS"] = "7"
	if code := e.run("enqueue", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "state", "jobq", "jobq.db")); err != nil {
		t.Errorf("no database under the Factory's XDG_STATE_HOME: %v", err)
	}
	if got := e.job(t, 1).MaxAttempts; got != 7 {
		t.Errorf("max_attempts = %d, want 7 from the Factory's JOBQ_DEFAULTS_MAX_ATTEMPTS", got)
	}
	// Without XDG_STATE_HOME: under the Factory's HOME.
	delete(e.env, "XDG_STATE_HOME")
	e.env["HOME"] = filepath.Join(e.dir, "home")
	if code := e.run("enqueue", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "home", ".local", "state", "jobq", "jobq.db")); err != nil {
		t.Errorf("no database under the Factory's HOME: %v", err)
	}
}

// A wait -q whose time runs out before it has read the queues' jobs does
// not claim a count it never took ("0 jobs not ended").
func TestWaitQueueTimeoutBeforeRead(t *testing.T) {
	e := setup(t)
	if code := e.run("enqueue", "-q", "other", "--in", "1h", "true"); code != 0 {
		t.Fatalf("enqueue: exit %d: %s", code, e.stderr)
	}
	if code := e.run("wait", "-q", "other", "--timeout", "1ns"); code != exitTimeout {
		t.Fatalf("wait: exit %d, want %d: %s", code, exitTimeout, e.stderr)
	}
	if got, want := e.stderr.String(), "jobq: timed out before the jobs of queue other were read\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// TestReportErrorCommitUnknown: a write whose commit may or may not have
// happened exits 1, never 75's "nothing was written, try again", in one
// line that says to check.
func TestReportErrorCommitUnknown(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := fmt.Errorf("enqueue: %w", queue.ErrCommitUnknown)
	if code := reportError(&buf, NewRootCmd(NewFactory()), err); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if got := buf.String(); strings.Contains(got, "try again") || !strings.Contains(got, "check with jobq list") || strings.Count(got, "\n") != 1 {
		t.Errorf("message %q: want one line that says to check with jobq list", got)
	}
}
