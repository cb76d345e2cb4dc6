package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrShutdown is the cause a runner gives the context of a running job to
// say "stop it and hand it back": the attempt does not count.
var ErrShutdown = errors.New("worker shutting down")

// ErrCancelled is the cause a runner gives the context of a running job
// that jobq cancel asked to stop: the job ends cancelled.
var ErrCancelled = errors.New("cancelled")

// outputGrace bounds how long a job's output is still read once its main
// process has exited: a grandchild that keeps stdout open (a daemon left
// behind) must not hold the worker.
const outputGrace = time.Second

// Executor runs the commands of jobs, one process group each.
type Executor struct {
	Environ     []string      // the environment jobs start from, e.g. os.Environ()
	DB          string        // given to jobs as JOBQ_DB
	OutputLimit int           // bytes of output kept per attempt
	KillGrace   time.Duration // between SIGTERM and SIGKILL
	Now         func() time.Time

	wait func(*exec.Cmd) error // replaces waitExit in tests
}

// Run runs job's command until it exits, its timeout passes or ctx is done,
// and says how it ended. On timeout or cancellation the job's whole process
// group gets SIGTERM, then SIGKILL after KillGrace; Run returns only once no
// process of the group is left.
func (e *Executor) Run(ctx context.Context, job *Job) Result {
	return e.run(ctx, job, newTailBuffer(e.OutputLimit))
}

// run is Run writing the output to out, which a runner reads while the
// job runs, to flush it to the store.
func (e *Executor) run(ctx context.Context, job *Job, out *tailBuffer) Result {
	cmd := exec.Command(job.Argv[0], job.Argv[1:]...)
	cmd.Dir = job.Dir
	cmd.Env = append(slices.Clone(e.Environ), job.Env...)
	cmd.Env = append(cmd.Env,
		"JOBQ_JOB_ID="+strconv.FormatInt(job.ID, 10),
		"JOBQ_ATTEMPT="+strconv.Itoa(job.Run), // the attempt as users see it numbered
		"JOBQ_QUEUE="+job.Queue,
		"JOBQ_DB="+e.DB,
	)
	// The output goes through a pipe of Run's own, not one exec makes: with
	// exec's, Wait returns only once every process holding the pipe has
	// closed it, so a process the command left behind would make a
	// command that already exited look as if it still ran, and a timeout,
	// cancel or shutdown in that time would take it for stopped (and hand
	// back, to run again, a job that had succeeded).
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{Error: "start: " + err.Error(), FinishedAt: e.Now()}
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	// Stdin stays nil: exec opens /dev/null for each job, an open file
	// description of its own, so what one job does to it (O_NONBLOCK, an
	// flock) no other job sees.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own process group

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if job.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, job.Timeout)
	}
	defer cancel()

	err = cmd.Start()
	pw.Close() // the command's processes hold the only write ends left
	if err != nil {
		return Result{Error: "start: " + err.Error(), FinishedAt: e.Now()}
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		// Through a buffer kept for the next job: os.File's WriteTo
		// would allocate one of 32 KiB per job, most of which print
		// little or nothing.
		_, _ = io.CopyBuffer(out, struct{ io.Reader }{pr}, *buf)
	}()
	killDone := make(chan struct{})
	stopped := false // written before killDone closes, read after
	stopKill := context.AfterFunc(runCtx, func() {
		defer close(killDone)
		stopped = true
		e.killGroup(cmd.Process.Pid)
	})
	wait := e.wait
	if wait == nil {
		wait = waitExit
	}
	err = wait(cmd)
	if !stopKill() {
		<-killDone // the kill began: it returns once the group is gone
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !stopped {
		// Wait failed without an exit status: the command may still
		// run, and the attempt may be retried. End its group first, then
		// reap the process (a failed Wait leaves it to be waited for),
		// unless it is stuck in the kernel: a worker that runs for months
		// must not collect zombies.
		e.killGroup(cmd.Process.Pid)
		if !groupAlive(cmd.Process.Pid) {
			_, _ = cmd.Process.Wait()
		}
	}
	select {
	case <-copied:
	case <-time.After(outputGrace):
		_ = pr.SetReadDeadline(time.Now()) // ends the copy; the pipe is polled
		<-copied
	}

	output, size, _ := out.Snapshot(-1)
	r := Result{Output: output, OutputSize: size, FinishedAt: e.Now()}
	switch {
	case err == nil:
		r.ExitCode = new(int)
	case errors.As(err, &exitErr):
		ws := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.Signal = signalName(ws.Signal())
			r.Error = "killed by " + r.Signal
		} else {
			code := ws.ExitStatus()
			r.ExitCode = &code
			r.Error = fmt.Sprintf("exit status %d", code)
		}
	default:
		r.Error = err.Error()
	}
	// A command that ended by itself before it was stopped is judged by
	// its own exit status, even if ctx is done by now.
	switch {
	case !stopped:
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrShutdown):
		r.Interrupted = true
		r.Error = ErrShutdown.Error()
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrCancelled):
		r.Cancelled = true
		r.Error = ErrCancelled.Error()
	case ctx.Err() != nil:
		r.Error = context.Cause(ctx).Error()
	default:
		r.Error = "timed out after " + job.Timeout.String()
	}
	return r
}

// waitExit waits for cmd's process to exit and reaps it; with no I/O of
// exec's to wait for, it returns as soon as the process has exited.
func waitExit(cmd *exec.Cmd) error {
	awaitExit(cmd.Process.Pid)
	return cmd.Wait()
}

// copyBufs holds the buffers that copy jobs' output, one per running job.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// killWait bounds the wait for a killed group to be gone: SIGKILL takes
// effect at once except on a process stuck in the kernel (e.g. on a dead
// NFS server), which must not hold the worker forever.
const killWait = 5 * time.Second

// killGroup ends process group pgid: SIGTERM, then SIGKILL once KillGrace
// has passed with any member left; then it waits for the group to be gone.
func (e *Executor) killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if waitGroup(pgid, e.KillGrace) {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGroup(pgid, killWait)
}

// waitGroup polls until no process of group pgid is left or d has passed,
// and reports whether none is left.
func waitGroup(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for groupAlive(pgid) {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// groupAlive reports whether a process of group pgid is still running.
// kill(-pgid, 0) also counts zombies, the dead children that a job left to
// init and init has not reaped yet (some container inits never do); where
// /proc is there, those do not count.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return false
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := strconv.Itoa(pgid)
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 3 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS",
	syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1",
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2", syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM", syscall.SIGXCPU: "SIGXCPU",
}

func signalName(s syscall.Signal) string {
	if name, ok := signalNames[s]; ok {
		return name
	}
	return "signal " + strconv.Itoa(int(s))
}
