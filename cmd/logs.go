package cmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// LogsOptions are logs' dependencies and flags.
type LogsOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)

	ID      int64
	Attempt intFlag // not given: the last
	Follow  bool
}

func newLogsCmd(f *Factory) *cobra.Command {
	opts := &LogsOptions{IO: f.IO, OpenStore: f.OpenStore}
	cmd := &cobra.Command{
		Use:   "logs ID [--attempt N] [-f]",
		Short: "Print the captured output of a job's attempt, raw; -f follows it",
		Long: `Print what a job's command wrote to stdout and stderr (captured together)
during its last attempt, or during attempt N (numbered as in 'jobq show').
At most work.output_limit bytes are kept per attempt: the tail, after a
marker line saying how much was cut. Of a running attempt it prints the
output so far, which its worker writes to the database about every second.

With -f it follows the attempt as its worker writes it, whichever worker
runs it, about a second behind, and ends when the attempt ends: exit
status 0 if it succeeded, 1 otherwise (failed and to be retried, dead,
timed out, cancelled, or handed back by a worker that stopped). Of a job
that has not started, or that waits for its next attempt, -f waits for it
to start. With --attempt N it follows attempt N if it runs, else prints it.`,
		Example: `  jobq logs 42
  jobq logs 42 --attempt 1 | less
  jobq logs -f 42 && echo done
  id=$(jobq enqueue 'make -C /srv/app build') && jobq logs -f "$id"`,
		Args: jobIDArg(&opts.ID),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().Var(&opts.Attempt, "attempt", "the attempt `N` (as numbered by jobq show; default the last)")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "follow the output until the attempt ends; exit 0 if it succeeded, 1 otherwise")
	return cmd
}

func runLogs(ctx context.Context, opts *LogsOptions) error {
	if opts.Attempt.Given && opts.Attempt.N < 1 {
		return usageErrorf("--attempt must be 1 or more")
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if opts.Follow {
		return followLogs(ctx, opts, store)
	}
	history, err := store.AttemptList(ctx, opts.ID)
	if err != nil {
		return fmt.Errorf("job %d: %w", opts.ID, err)
	}
	if len(history) == 0 {
		job, err := store.JobGet(ctx, opts.ID)
		if err != nil {
			return fmt.Errorf("job %d: %w", opts.ID, err)
		}
		if job.State == queue.StateCancelled {
			return fmt.Errorf("job %d was cancelled before it ran: it has no output", opts.ID)
		}
		return fmt.Errorf("job %d has not run yet", opts.ID)
	}
	a := history[len(history)-1]
	if opts.Attempt.Given {
		i := slices.IndexFunc(history, func(a queue.Attempt) bool { return a.Attempt == opts.Attempt.N })
		if i < 0 {
			return noAttemptError(opts.ID, opts.Attempt.N, history[0].Attempt, a.Attempt)
		}
		a = history[i]
	}
	if _, err := opts.IO.Out.Write(a.Output); err != nil {
		return err
	}
	if a.Running() && opts.IO.ErrTerminal {
		fmt.Fprintf(opts.IO.ErrOut, "jobq: attempt %d of job %d is running: that is its output so far; 'jobq logs -f %d' follows it\n", a.Attempt, opts.ID, opts.ID)
	}
	return nil
}

func noAttemptError(id int64, n, first, last int) error {
	if first == last {
		return fmt.Errorf("job %d has no attempt %d: its only attempt is %d", id, n, last)
	}
	return fmt.Errorf("job %d has no attempt %d: its attempts are %d to %d", id, n, first, last)
}

// followEvery is the longest a follower waits without looking, should it
// not be told of a write (the store's Notifier); followAtMost bounds how
// often it looks when told of every commit of a busy queue.
const (
	followEvery  = time.Second
	followAtMost = 250 * time.Millisecond
)

// followLogs prints an attempt's output as its worker flushes it to the
// store, until the attempt ends, and returns its outcome: nil when it
// succeeded, an exit status 1 otherwise. The output travels through the
// store alone, so it follows a job run by any worker, on any host.
func followLogs(ctx context.Context, opts *LogsOptions, store storeNotifier) error {
	attempt := opts.Attempt.N // 0: the job's latest, then the one that starts
	var seen int64            // bytes of the attempt's output printed
	known := int64(-1)        // the output size last read
	waiting := false
	for {
		looked := time.Now()
		res, err := store.AttemptOutput(ctx, queue.AttemptOutputParams{JobID: opts.ID, Attempt: attempt, KnownSize: known})
		switch {
		case ctx.Err() != nil:
			return &ExitError{Code: exitFailure} // interrupted: not a success
		case errors.Is(err, queue.ErrNotFound) && (waiting || attempt != 0):
			return fmt.Errorf("job %d was deleted", opts.ID)
		case err != nil:
			return fmt.Errorf("job %d: %w", opts.ID, err)
		}
		a := res.Attempt
		if attempt == 0 && a != nil && !a.Running() && !res.JobState.Final() {
			a = nil // its last attempt ended and it waits for the next: follow that one
		}
		switch {
		case a == nil && opts.Attempt.Given:
			if res.JobRun == 0 {
				return fmt.Errorf("job %d has not run yet", opts.ID)
			}
			return noAttemptError(opts.ID, opts.Attempt.N, 1, res.JobRun)
		case a == nil && res.JobState.Final():
			return fmt.Errorf("job %d was cancelled before it ran: it has no output", opts.ID)
		case a == nil:
			if !waiting && opts.IO.ErrTerminal {
				fmt.Fprintf(opts.IO.ErrOut, "jobq: job %d is %s: waiting for its next attempt to start\n", opts.ID, res.JobState)
			}
			waiting = true
		default:
			attempt = a.Attempt
			if a.Output != nil || !a.Running() {
				out, n := queue.OutputSince(a.Output, a.OutputSize, seen)
				if _, err := opts.IO.Out.Write(out); err != nil {
					return err
				}
				seen, known = n, a.OutputSize
			}
			if !a.Running() {
				return attemptOutcome(opts.ID, a, res)
			}
		}
		if err := store.Wait(ctx, followEvery); err != nil && ctx.Err() == nil {
			return fmt.Errorf("job %d: %w", opts.ID, err)
		}
		if d := followAtMost - time.Since(looked); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
	}
}

// attemptOutcome is logs -f's exit: nil when the attempt succeeded, else
// exit status 1 with what became of it and of its job.
func attemptOutcome(id int64, a *queue.Attempt, res *queue.AttemptOutputResult) error {
	if a.Succeeded() {
		return nil
	}
	why := a.Error
	if why == "" {
		why = "failed"
	}
	if res.JobRun == a.Attempt {
		switch res.JobState {
		case queue.StateRetrying:
			why += "; the job will be retried"
		case queue.StatePending:
			why += "; the job was handed back and will run again"
		case queue.StateDead:
			why += "; the job is dead"
		}
	}
	return &ExitError{Code: exitFailure, Err: fmt.Errorf("job %d, attempt %d: %s", id, a.Attempt, why)}
}
