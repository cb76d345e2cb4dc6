package queuetest

import (
	"errors"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// The output of running attempts, written by their worker and read by
// jobq logs -f from anywhere.
var outputTests = []suiteTest{
	{"OutputFlushAndRead", testOutputFlushAndRead},
	{"OutputFenced", testOutputFenced},
	{"OutputOfLostWorkerKept", testOutputOfLostWorkerKept},
}

func flushOutput(t *testing.T, s queue.Store, worker string, j *queue.Job, out string, size int64) {
	t.Helper()
	err := s.JobOutput(t.Context(), queue.JobOutputParams{Worker: worker, Outputs: []queue.JobOutput{
		{JobRef: queue.JobRef{ID: j.ID, Run: j.Run}, Output: []byte(out), Size: size},
	}})
	if err != nil {
		t.Fatalf("JobOutput: %v", err)
	}
}

func attemptOutput(t *testing.T, s queue.Store, p queue.AttemptOutputParams) *queue.AttemptOutputResult {
	t.Helper()
	res, err := s.AttemptOutput(t.Context(), p)
	if err != nil {
		t.Fatalf("AttemptOutput(%+v): %v", p, err)
	}
	return res
}

// The output so far is read back with its size while the attempt runs,
// left out while its size is the one known, and replaced by the final
// output when the attempt ends; a job not yet run has no attempt.
func testOutputFlushAndRead(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("o"))
	if _, err := s.AttemptOutput(t.Context(), queue.AttemptOutputParams{JobID: id + 1000}); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("AttemptOutput of a job that does not exist: %v; want ErrNotFound", err)
	}
	res := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id})
	if res.Attempt != nil || res.JobRun != 0 || res.JobState != queue.StatePending {
		t.Fatalf("before the first claim: %+v; want no attempt, run 0, pending", res)
	}

	j := claimOne(t, s, t0, "o")
	res = attemptOutput(t, s, queue.AttemptOutputParams{JobID: id})
	if a := res.Attempt; a == nil || a.Attempt != 1 || !a.Running() || len(a.Output) != 0 || a.OutputSize != 0 || a.Worker != worker {
		t.Fatalf("claimed, nothing flushed: %+v; want attempt 1 running by %s, no output", a, worker)
	}
	if res.JobState != queue.StateRunning || res.JobRun != 1 {
		t.Errorf("job state %s, run %d; want running, 1", res.JobState, res.JobRun)
	}
	flushOutput(t, s, worker, j, "one\n", 4)
	flushOutput(t, s, worker, j, "one\ntwo\n", 8)
	a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id}).Attempt
	if a == nil || string(a.Output) != "one\ntwo\n" || a.OutputSize != 8 || !a.Running() {
		t.Fatalf("after two flushes: %+v; want the second, running", a)
	}
	a = attemptOutput(t, s, queue.AttemptOutputParams{JobID: id, Attempt: 1, KnownSize: 8}).Attempt
	if a == nil || a.Output != nil || a.OutputSize != 8 {
		t.Errorf("with its size known: %+v; want no output, size 8", a)
	}
	if as := attempts(t, s, id); len(as) != 1 || string(as[0].Output) != "one\ntwo\n" || as[0].OutputSize != 8 {
		t.Errorf("AttemptList while running: %+v; want the output so far", as)
	}
	if got := get(t, s, id).LastOutput; got != "two" {
		t.Errorf("LastOutput while running: %q; want the last line flushed", got)
	}

	end := t0.Add(time.Second)
	finish(t, s, end, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateRetrying, Attempts: 1, RunAt: end,
		FinishedAt: end, ExitCode: intp(1), Error: "exit status 1", Output: []byte("one\ntwo\nthree\n"), OutputSize: 14})
	res = attemptOutput(t, s, queue.AttemptOutputParams{JobID: id, KnownSize: 8})
	a = res.Attempt
	if a == nil || a.Running() || string(a.Output) != "one\ntwo\nthree\n" || a.OutputSize != 14 || a.Succeeded() || !sameInt(a.ExitCode, intp(1)) {
		t.Fatalf("ended: %+v; want the final output, exit 1", a)
	}
	if res.JobState != queue.StateRetrying {
		t.Errorf("job state %s; want retrying", res.JobState)
	}

	j = claim(t, s, queue.JobClaimParams{Queues: []string{"o"}, Limit: 1, Now: end.Add(time.Hour)}).Jobs[0]
	flushOutput(t, s, worker, j, "again\n", 6)
	if a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id}).Attempt; a == nil || a.Attempt != 2 || string(a.Output) != "again\n" {
		t.Errorf("latest attempt: %+v; want attempt 2's output", a)
	}
	if a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id, Attempt: 1}).Attempt; a == nil || a.Attempt != 1 || a.OutputSize != 14 {
		t.Errorf("attempt 1: %+v; want its final output", a)
	}
	if a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id, Attempt: 3}).Attempt; a != nil {
		t.Errorf("attempt 3, not begun: %+v; want none", a)
	}
	finish(t, s, end, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: 2,
		FinishedAt: end, ExitCode: intp(0), Output: []byte("again\n"), OutputSize: 6})
	if a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id}).Attempt; a == nil || !a.Succeeded() {
		t.Errorf("after success: %+v; want attempt 2 succeeded", a)
	}
}

// Only the worker running the attempt writes its output, and only while
// it runs: a flush that comes after the outcome leaves the final output.
func testOutputFenced(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("o"))
	j := claimOne(t, s, t0, "o")
	flushOutput(t, s, worker, j, "mine\n", 5)
	flushOutput(t, s, "host-b:200", j, "not mine\n", 9)
	flushOutput(t, s, worker, &queue.Job{ID: j.ID, Run: j.Run + 1}, "another run\n", 12)
	if a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id}).Attempt; a == nil || string(a.Output) != "mine\n" || a.OutputSize != 5 {
		t.Errorf("after flushes by another worker and for another run: %+v; want the worker's own", a)
	}
	finish(t, s, t0, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateSucceeded, Attempts: 1,
		FinishedAt: t0, ExitCode: intp(0), Output: []byte("mine\nfinal\n"), OutputSize: 11})
	flushOutput(t, s, worker, j, "mine\nlate\n", 10)
	if a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id}).Attempt; a == nil || string(a.Output) != "mine\nfinal\n" || a.OutputSize != 11 {
		t.Errorf("after a flush that came late: %+v; want the final output", a)
	}
	// Several attempts in one call, one of them no longer running.
	a, b := insertOne(t, s, newJob("p")), insertOne(t, s, newJob("p"))
	ja, jb := claimOne(t, s, t0, "p"), claimOne(t, s, t0, "p")
	err := s.JobOutput(t.Context(), queue.JobOutputParams{Worker: worker, Outputs: []queue.JobOutput{
		{JobRef: queue.JobRef{ID: ja.ID, Run: ja.Run}, Output: []byte("a\n"), Size: 2},
		{JobRef: queue.JobRef{ID: j.ID, Run: j.Run}, Output: []byte("stale\n"), Size: 6},
		{JobRef: queue.JobRef{ID: jb.ID, Run: jb.Run}, Output: []byte("bb\n"), Size: 3},
	}})
	if err != nil {
		t.Fatalf("JobOutput of three: %v", err)
	}
	for _, c := range []struct {
		id   int64
		want string
	}{{a, "a\n"}, {b, "bb\n"}, {id, "mine\nfinal\n"}} {
		if got := attemptOutput(t, s, queue.AttemptOutputParams{JobID: c.id}).Attempt; got == nil || string(got.Output) != c.want {
			t.Errorf("job %d after one flush of three: %+v; want %q", c.id, got, c.want)
		}
	}
}

// A job whose worker was lost keeps the output that worker last flushed.
func testOutputOfLostWorkerKept(t *testing.T, s queue.Store) {
	id := insertOne(t, s, newJob("o"))
	j := claimOne(t, s, t0, "o")
	flushOutput(t, s, worker, j, "halfway\n", 8)
	later := t0.Add(time.Hour)
	res := claim(t, s, queue.JobClaimParams{Now: later, Worker: "host-b:200", Limit: 0,
		Expired: func(job *queue.Job) queue.JobFinishParams { return queue.LeaseExpired(job, later, 0.5) }})
	if len(res.Expired) != 1 {
		t.Fatalf("expired %d jobs; want 1", len(res.Expired))
	}
	a := attemptOutput(t, s, queue.AttemptOutputParams{JobID: id}).Attempt
	if a == nil || a.Running() || string(a.Output) != "halfway\n" || a.OutputSize != 8 {
		t.Errorf("attempt of a lost worker: %+v; want ended, with the output flushed", a)
	}
}
