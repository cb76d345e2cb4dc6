package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runLimit fails a test whose Run hangs, rather than hang the test binary:
// far above what any of these jobs needs, so that it says nothing of speed.
const runLimit = 20 * time.Second

func testExecutor() *Executor {
	return &Executor{
		Environ:     []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/jobq-test", "JOBQ_JOB_ID=999"},
		DB:          "/var/lib/jobq/test.db",
		OutputLimit: 1 << 20,
		KillGrace:   300 * time.Millisecond,
		Now:         time.Now,
	}
}

func shellJob(t *testing.T, command string) *Job {
	t.Helper()
	return &Job{ID: 42, Queue: "q1", Attempts: 1, Run: 2, Command: command, Argv: ShellArgv(command), Dir: t.TempDir()}
}

// run runs job and fails the test if Run does not return within runLimit.
func run(t *testing.T, e *Executor, ctx context.Context, job *Job) Result {
	t.Helper()
	done := make(chan Result, 1)
	go func() { done <- e.Run(ctx, job) }()
	select {
	case r := <-done:
		return r
	case <-time.After(runLimit):
		t.Fatalf("Run(%q) did not return within %v", job.Argv, runLimit)
		return Result{}
	}
}

// waitFile waits until the job has written a line to path, and returns
// it; safe to call from any goroutine.
func waitFile(path string) (string, error) {
	deadline := time.Now().Add(runLimit)
	for {
		b, err := os.ReadFile(path)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the job did not write %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	text, err := waitFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 1 {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

// processGone reports whether pid has exited. A zombie has: it is dead,
// and reaping an orphan is up to init (which, in some containers, never
// does).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

// killAtEnd makes sure a process a test left behind does not outlive it.
func killAtEnd(t *testing.T, pid int) {
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

func TestExecutorExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		command   string
		wantCode  int
		wantError string
	}{
		{"true", 0, ""},
		{"exit 0", 0, ""},
		{"false", 1, "exit status 1"},
		{"exit 3", 3, "exit status 3"},
		{"exit 255", 255, "exit status 255"},
		{"echo partial; exit 64", 64, "exit status 64"},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			t.Parallel()
			r := run(t, testExecutor(), context.Background(), shellJob(t, tt.command))
			if r.ExitCode == nil || *r.ExitCode != tt.wantCode {
				t.Fatalf("ExitCode = %v, want %d (result %+v)", r.ExitCode, tt.wantCode, r)
			}
			if r.Error != tt.wantError || r.Signal != "" || r.Interrupted {
				t.Errorf("Error %q Signal %q Interrupted %v; want %q, none, false", r.Error, r.Signal, r.Interrupted, tt.wantError)
			}
			if r.Succeeded() != (tt.wantCode == 0) {
				t.Errorf("Succeeded() = %v", r.Succeeded())
			}
			if r.FinishedAt.IsZero() {
				t.Error("FinishedAt not set")
			}
		})
	}
}

func TestExecutorSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"SIGKILL", "SIGTERM", "SIGSEGV"} {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			// ulimit: no core dump for SIGSEGV.
			r := run(t, testExecutor(), context.Background(), shellJob(t, "ulimit -c 0; kill -"+strings.TrimPrefix(sig, "SIG")+" $$"))
			if r.Signal != sig || r.ExitCode != nil {
				t.Fatalf("Signal %q ExitCode %v, want %s and none (result %+v)", r.Signal, r.ExitCode, sig, r)
			}
			if r.Error != "killed by "+sig {
				t.Errorf("Error = %q, want %q", r.Error, "killed by "+sig)
			}
			if r.Succeeded() {
				t.Error("Succeeded() = true")
			}
		})
	}
}

func TestExecutorShellAndArgv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"shell form expands", ShellArgv(`echo "$HOME" a;  echo b`), "/home/jobq-test a\nb\n"},
		{"argv form runs no shell", []string{"/bin/echo", "$HOME", "a;", "echo", "b", "*"}, "$HOME a; echo b *\n"},
		{"argv form looks up PATH", []string{"echo", "x y"}, "x y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := shellJob(t, "")
			job.Argv = tt.argv
			r := run(t, testExecutor(), context.Background(), job)
			if !r.Succeeded() || string(r.Output) != tt.want {
				t.Errorf("Run(%q) = output %q, %+v; want %q", tt.argv, r.Output, r, tt.want)
			}
		})
	}
}

func TestExecutorDir(t *testing.T) {
	t.Parallel()
	job := shellJob(t, "pwd")
	want, err := filepath.EvalSymlinks(job.Dir)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, testExecutor(), context.Background(), job)
	if got := strings.TrimSpace(string(r.Output)); got != want {
		t.Errorf("pwd = %q, want %q", got, want)
	}
}

func TestExecutorEnvironment(t *testing.T) {
	t.Parallel()
	job := shellJob(t, `echo "$FOO|$HOME|$PATH|$JOBQ_JOB_ID|$JOBQ_ATTEMPT|$JOBQ_QUEUE|$JOBQ_DB"`)
	job.Env = []string{"FOO=bar baz", "HOME=/override", "JOBQ_QUEUE=spoofed"}
	r := run(t, testExecutor(), context.Background(), job)
	want := "bar baz|/override|/usr/local/bin:/usr/bin:/bin|42|2|q1|/var/lib/jobq/test.db\n"
	if string(r.Output) != want {
		t.Errorf("environment = %q, want %q", r.Output, want)
	}
}

func TestExecutorStdinIsDevNull(t *testing.T) {
	t.Parallel()
	// cat would wait forever on a stdin left open.
	r := run(t, testExecutor(), context.Background(), shellJob(t, "cat; echo cat done"))
	if !r.Succeeded() || string(r.Output) != "cat done\n" {
		t.Errorf("cat = %q, %+v; want it to read nothing and exit", r.Output, r)
	}
	r = run(t, testExecutor(), context.Background(), shellJob(t, "readlink /proc/self/fd/0"))
	if string(r.Output) != "/dev/null\n" {
		t.Errorf("stdin = %q, want /dev/null", r.Output)
	}
}

// Each job's stdin is an open file description of its own: an flock one
// job holds on it (or O_NONBLOCK it sets) no other job shares.
func TestExecutorStdinNotShared(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1) to take a lock on stdin:", err)
	}
	holder := shellJob(t, `flock -x 0 && echo > locked && while [ ! -e release ]; do sleep 0.01; done`)
	held := make(chan Result, 1)
	go func() { held <- testExecutor().Run(context.Background(), holder) }()
	if _, err := waitFile(filepath.Join(holder.Dir, "locked")); err != nil {
		t.Fatal(err)
	}
	r := run(t, testExecutor(), context.Background(), shellJob(t, "flock -n -x 0 && echo got the lock || echo refused"))
	if err := os.WriteFile(filepath.Join(holder.Dir, "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if h := <-held; !h.Succeeded() {
		t.Fatalf("the job holding the lock: %+v %q", h, h.Output)
	}
	if string(r.Output) != "refused\n" {
		t.Errorf("a second job's flock on its stdin, while another job holds one on its: %q, want refused: jobs share their stdin", r.Output)
	}
}

func TestExecutorOutput(t *testing.T) {
	t.Parallel()
	t.Run("stdout and stderr together in order", func(t *testing.T) {
		t.Parallel()
		r := run(t, testExecutor(), context.Background(), shellJob(t, "echo out1; echo err1 >&2; echo out2; echo err2 >&2"))
		if want := "out1\nerr1\nout2\nerr2\n"; string(r.Output) != want {
			t.Errorf("output = %q, want %q", r.Output, want)
		}
	})
	t.Run("bounded with a marker", func(t *testing.T) {
		t.Parallel()
		e := testExecutor()
		e.OutputLimit = 100
		r := run(t, e, context.Background(), shellJob(t, "seq 1 20000; echo the end >&2"))
		all := run(t, testExecutor(), context.Background(), shellJob(t, "seq 1 20000; echo the end >&2")).Output
		want := marker(len(all)-100) + string(all[len(all)-100:])
		if string(r.Output) != want {
			t.Errorf("output = %q, want %q", r.Output, want)
		}
		if !bytes.HasSuffix(r.Output, []byte("20000\nthe end\n")) {
			t.Errorf("output %q lost its tail", r.Output)
		}
	})
	t.Run("no output", func(t *testing.T) {
		t.Parallel()
		r := run(t, testExecutor(), context.Background(), shellJob(t, "true"))
		if len(r.Output) != 0 {
			t.Errorf("output = %q, want none", r.Output)
		}
	})
}

func TestExecutorTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		command    string
		wantSignal string
	}{
		{"SIGTERM ends it", "echo before; sleep 30", "SIGTERM"},
		{"SIGKILL after the grace when SIGTERM is ignored", "trap '' TERM; echo before; sleep 30", "SIGKILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := shellJob(t, tt.command)
			job.Timeout = time.Second // ample time to print "before" first
			r := run(t, testExecutor(), context.Background(), job)
			if r.Signal != tt.wantSignal || r.ExitCode != nil {
				t.Errorf("Signal %q ExitCode %v, want %s (result %+v)", r.Signal, r.ExitCode, tt.wantSignal, r)
			}
			if r.Error != "timed out after 1s" || r.Interrupted {
				t.Errorf("Error %q Interrupted %v, want a timeout", r.Error, r.Interrupted)
			}
			if string(r.Output) != "before\n" {
				t.Errorf("output = %q, want what came before the timeout", r.Output)
			}
		})
	}
}

// TestExecutorTimeoutKillsTheGroup: a child that ignores SIGTERM and keeps
// stdout open outlives the shell that started it, but not Run.
func TestExecutorTimeoutKillsTheGroup(t *testing.T) {
	t.Parallel()
	job := shellJob(t, `(trap '' TERM; while :; do sleep 0.05; done) & echo $! > child.pid; wait`)
	job.Timeout = time.Second // ample time to write child.pid first
	childPID := filepath.Join(job.Dir, "child.pid")
	r := run(t, testExecutor(), context.Background(), job)
	pid := readPID(t, childPID)
	killAtEnd(t, pid)
	if !processGone(pid) {
		t.Errorf("child %d ignoring SIGTERM is still running after Run returned", pid)
	}
	if r.Error != "timed out after 1s" || r.Succeeded() {
		t.Errorf("result %+v, want a timeout", r)
	}
}

// TestExecutorDaemonDoesNotHoldRun: a grandchild that keeps stdout open
// after the job exits must not keep Run waiting for it.
func TestExecutorDaemonDoesNotHoldRun(t *testing.T) {
	t.Parallel()
	job := shellJob(t, `sleep 30 & echo $! > daemon.pid; echo hi`)
	start := time.Now()
	r := run(t, testExecutor(), context.Background(), job)
	killAtEnd(t, readPID(t, filepath.Join(job.Dir, "daemon.pid")))
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Run took %v: it waited for the grandchild", elapsed)
	}
	if !r.Succeeded() || string(r.Output) != "hi\n" {
		t.Errorf("result %+v output %q, want success with hi", r, r.Output)
	}
}

func TestExecutorCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		cause           error
		wantInterrupted bool
		wantError       string
	}{
		{"shutdown hands the job back", ErrShutdown, true, ErrShutdown.Error()},
		{"shutdown wrapped", fmt.Errorf("second signal: %w", ErrShutdown), true, ErrShutdown.Error()},
		{"other cause is a failure", errLeaseLost, false, errLeaseLost.Error()},
		{"no cause", nil, false, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := shellJob(t, "echo started > started; exec sleep 30")
			ctx, cancel := context.WithCancelCause(context.Background())
			go func() {
				waitFile(filepath.Join(job.Dir, "started")) // on error, cancel anyway
				cancel(tt.cause)
			}()
			r := run(t, testExecutor(), ctx, job)
			if r.Interrupted != tt.wantInterrupted || r.Error != tt.wantError {
				t.Errorf("Interrupted %v Error %q, want %v %q", r.Interrupted, r.Error, tt.wantInterrupted, tt.wantError)
			}
			if r.Signal != "SIGTERM" || r.Succeeded() {
				t.Errorf("result %+v, want killed by SIGTERM", r)
			}
		})
	}
}

// TestExecutorTimeoutNoNeedlessGrace: once SIGTERM has ended every process
// of the group, Run does not sit out KillGrace, even while the child the
// shell orphaned is a zombie that init has yet to reap.
func TestExecutorTimeoutNoNeedlessGrace(t *testing.T) {
	t.Parallel()
	e := testExecutor()
	e.KillGrace = time.Hour
	// The child outlives its shell by a moment, so that it dies orphaned.
	job := shellJob(t, "(trap 'sleep 0.2; exit 0' TERM; while :; do sleep 0.05; done) & wait")
	job.Timeout = 200 * time.Millisecond
	r := run(t, e, context.Background(), job) // fails after runLimit, far below an hour
	if r.Signal != "SIGTERM" || r.Error != "timed out after 200ms" {
		t.Errorf("result %+v, want a timeout ended by SIGTERM", r)
	}
}

func TestExecutorStartError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		job  func(j *Job)
	}{
		{"no such program", func(j *Job) { j.Argv = []string{"/nonexistent/jobq-test-program"} }},
		{"not on PATH", func(j *Job) { j.Argv = []string{"jobq-test-no-such-program"} }},
		{"not executable", func(j *Job) { j.Argv = []string{"/etc/passwd"} }},
		{"no such directory", func(j *Job) { j.Dir = "/nonexistent/jobq-test-dir" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := shellJob(t, "true")
			tt.job(job)
			r := run(t, testExecutor(), context.Background(), job)
			if !strings.HasPrefix(r.Error, "start: ") || r.ExitCode != nil || r.Succeeded() {
				t.Errorf("result %+v, want a start error", r)
			}
			if r.FinishedAt.IsZero() {
				t.Error("FinishedAt not set")
			}
			if p := Decide(&Job{Attempts: 1, MaxAttempts: 1}, r, 0.5); p.State != StateDead {
				t.Errorf("a start error on the last attempt decides %s, want dead", p.State)
			}
		})
	}
}

// When Wait fails without an exit status, Run ends the job's group rather
// than leave it running unwatched while the attempt is retried, and reaps
// its process: a worker that runs for months must not collect zombies.
// Run's handling of a failed Wait is the same on every system, the
// failure injected (wait); so is this test.
func TestExecutorWaitFailureKillsTheGroup(t *testing.T) {
	job := shellJob(t, `sleep 30 & echo $! > bg.pid; echo $$ > main.pid; sleep 30`)
	e := testExecutor()
	e.KillGrace = 50 * time.Millisecond
	e.wait = func(cmd *exec.Cmd) error {
		if _, err := waitFile(filepath.Join(job.Dir, "main.pid")); err != nil {
			t.Error(err)
		}
		return errors.New("waitid: injected failure") // nothing reaped
	}
	r := run(t, e, context.Background(), job)
	bg := readPID(t, filepath.Join(job.Dir, "bg.pid"))
	main := readPID(t, filepath.Join(job.Dir, "main.pid"))
	killAtEnd(t, bg)
	killAtEnd(t, main)
	if !processGone(bg) || !processGone(main) {
		t.Errorf("after a failed Wait, the job's processes still run (main %d gone: %v, background %d gone: %v)",
			main, processGone(main), bg, processGone(bg))
	}
	if r.Error != "waitid: injected failure" || r.ExitCode != nil || r.Succeeded() {
		t.Errorf("result %+v, want Wait's error", r)
	}
	// Reaped by Run, not left a zombie: the main process is this test's
	// child, so its ID stays taken (a signal 0 finds it) until it is
	// waited for.
	if err := syscall.Kill(main, 0); err != syscall.ESRCH {
		t.Errorf("the job's main process %d was not reaped after the failed Wait (kill 0: %v)", main, err)
	}
}

func TestSignalName(t *testing.T) {
	t.Parallel()
	if got := signalName(syscall.SIGTERM); got != "SIGTERM" {
		t.Errorf("signalName(SIGTERM) = %q", got)
	}
	if got := signalName(syscall.Signal(40)); got != "signal 40" {
		t.Errorf("signalName(40) = %q", got)
	}
}
