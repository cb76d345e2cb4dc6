package queue

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkExecutorRun runs b.N `true` jobs through Executor.Run, two at
// a time as `jobq work -c 2` does, with no store, and reports this
// process's own CPU per job (user+sys, the jobs' processes excluded) and
// its context switches per job: what starting, watching and reaping a job
// costs the worker, apart from its commits.
func BenchmarkExecutorRun(b *testing.B) {
	e := testExecutor()
	job := &Job{ID: 1, Queue: "q", Run: 1, Command: "true", Argv: ShellArgv("true"), Dir: b.TempDir()}
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range jobs {
				if r := e.Run(context.Background(), job); r.ExitCode == nil || *r.ExitCode != 0 {
					b.Errorf("true: %+v", r)
				}
			}
		})
	}
	cpu := selfCPU()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((selfCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/job")
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	b.ReportMetric(float64(ru1.Nvcsw-ru0.Nvcsw+ru1.Nivcsw-ru0.Nivcsw)/float64(b.N), "csw/job")
}

// selfCPU is the user and system CPU this process has used so far, its
// children's excluded.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
