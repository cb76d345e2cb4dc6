package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// DrainOptions are drain's dependencies and flags.
type DrainOptions struct {
	RunnerOptions
}

func newDrainCmd(f *Factory) *cobra.Command {
	opts := &DrainOptions{RunnerOptions: newRunnerOptions(f)}
	cmd := &cobra.Command{
		Use:   "drain [-q Q] [-c N]",
		Short: "Run ready jobs in the foreground until none is ready",
		Long: `Run ready jobs, N at a time, in the foreground, and exit once no job is
ready and none of those it started is still running; without -q, in every
queue (those schedules enqueue into too). Jobs waiting for a
retry or a later start are left for a later drain or for 'jobq work'.
It fires the schedules' ticks that are due ('jobq schedule'), so that a
crontab line '* * * * * jobq drain' runs schedules without a worker.

Exit status 0 when every job it ran succeeded or will be retried; 1 when a
job it ran went dead (a job whose row cannot be read ends dead when
claimed), or when a claim's outcome was unknown (the connection lost as
it committed): jobs it took may not have run, and stay running until
their lease expires.
On a terminal it shows, on stderr, the jobs done
out of those ready, how many failed and the rate. On SIGINT or SIGTERM it stops its running jobs and
hands them back as pending without using an attempt.`,
		Example: `  jobq drain
  jobq drain -q mail -c 4
  */5 * * * * /usr/local/bin/jobq drain -q reports   # a crontab line: cron's PATH is /usr/bin:/bin`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDrain(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	return cmd
}

func runDrain(ctx context.Context, opts *DrainOptions) error {
	var progress *drainProgress
	if opts.IO.ErrTerminal {
		// A person watches: jobs done out of ready, with the log lines
		// above the bar.
		progress = newDrainProgress(opts.IO.ErrOut)
		opts.IO.ErrOut = progress.Writer()
		defer progress.Stop()
	}
	r, _, err := opts.setUp(ctx)
	if err != nil {
		return err
	}
	defer r.Store.Close()
	if progress != nil {
		ready, err := r.Store.JobCount(ctx, queue.JobFilter{States: []queue.State{queue.StatePending}, Queues: r.Queues, Now: opts.Now()})
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		progress.Start(ready)
		r.OnLoop = progress.Update
	}
	sum, err := r.Drain(ctx)
	var dead error
	if sum.Dead > 0 {
		dead = fmt.Errorf("%s went dead; see 'jobq list --state dead'", plural(sum.Dead, "job"))
	}
	if unknown := (*queue.UnknownClaimError)(nil); errors.As(err, &unknown) {
		// Not drained: jobs it took may not have run. Its status is a
		// failure's (1), whatever the driver's error; one line says both.
		if dead != nil {
			err = fmt.Errorf("%w; and %w", dead, err)
		}
		return &ExitError{Code: exitFailure, Err: fmt.Errorf("drain: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if dead != nil {
		return &ExitError{Code: exitFailure, Err: dead}
	}
	return nil
}
