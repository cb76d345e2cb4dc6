package cmd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// RetryOptions are retry's dependencies and flags.
type RetryOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	IDs    []int64
	Filter filterFlags
	DryRun bool
}

func newRetryCmd(f *Factory) *cobra.Command {
	opts := &RetryOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "retry ID... | --state S [-q Q] [filters] [--dry-run]",
		Short: "Run jobs again with a fresh attempt budget, their history kept",
		Long: `Put jobs back to pending with their attempts at 0, to run again as soon
as a worker is free; the history of their attempts is kept ('jobq show').
A job that waits for others (--after) waits again until they succeeded; one
whose dependency ended dead or cancelled is retried only together with it.

Name the jobs by ID, or pick them with the filters of 'jobq list', --state
among them (retrying, dead, cancelled or succeeded). --dry-run prints what
would change and changes nothing. A job that still runs or has yet to run
is not retried, nor one whose unique key another live job now holds.

Prints the IDs of the jobs retried, one per line. Exit status 1 when a job
named does not exist or could not be retried; the others are retried all
the same.`,
		Example: `  jobq retry 42 43
  jobq retry --state dead -q mail --dry-run
  jobq retry --state dead -q mail --exit-code 75 --since 2h
  jobq retry --state dead --error 'timed out' | xargs jobq wait`,
		Args: optionalJobIDArgs(&opts.IDs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRetry(cmd.Context(), opts)
		},
	}
	opts.Filter.register(cmd.Flags())
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be retried; change nothing")
	return cmd
}

func runRetry(ctx context.Context, opts *RetryOptions) error {
	filter, err := opts.Filter.filter(opts.Now())
	if err != nil {
		return err
	}
	switch hasFilter := opts.Filter.States != "" || opts.Filter.given(); {
	case len(opts.IDs) > 0 && hasFilter:
		return usageErrorf("give job IDs or filters, not both")
	case len(opts.IDs) > 0:
		filter.IDs = opts.IDs
	case !hasFilter:
		return usageErrorf("name the jobs to retry: job IDs, or --state (e.g. --state dead) and other filters")
	case len(filter.States) == 0:
		return usageErrorf("name the states to retry with --state, e.g. --state dead")
	}
	for _, st := range filter.States {
		if !st.Retryable() {
			return usageErrorf("cannot retry %s jobs: only retrying, dead, cancelled or succeeded ones", st)
		}
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	results, err := store.JobRetry(ctx, queue.JobRetryParams{Filter: filter, DryRun: opts.DryRun})
	if err != nil && (opts.DryRun || len(results) == 0) {
		return fmt.Errorf("retry: %w", err)
	}
	retried, refused := 0, 0
	for _, r := range results {
		if r.State != "" {
			retried++
		} else {
			refused++
		}
	}
	if opts.DryRun {
		if err := writeRetryTable(opts.IO, results, filter.Now); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "jobq: dry run: would retry %s; nothing was changed\n", plural(retried, "job"))
		if refused > 0 { // as the real run would
			return &ExitError{Code: exitFailure}
		}
		return nil
	}
	for _, r := range results {
		switch {
		case r.State != "":
			fmt.Fprintln(opts.IO.Out, r.ID)
		case r.Job == nil:
			fmt.Fprintf(opts.IO.ErrOut, "jobq: job %d: %v\n", r.ID, queue.ErrNotFound)
		default:
			fmt.Fprintf(opts.IO.ErrOut, "jobq: job %d not retried: %s\n", r.ID, r.Reason)
		}
	}
	if err != nil {
		// A retry by filter commits a batch at a time: the batches before
		// the error stay retried, and their IDs were printed above.
		return &ExitError{Code: exitFailure, Err: fmt.Errorf("retry stopped after retrying %s: %v; run it again to finish", plural(retried, "job"), err)}
	}
	if len(results) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "jobq: no job matches; nothing was retried")
	}
	if refused > 0 {
		return &ExitError{Code: exitFailure}
	}
	return nil
}

// writeRetryTable shows what a retry would do to each job.
func writeRetryTable(io IOStreams, results []queue.JobRetryResult, now time.Time) error {
	rows := make([][]string, len(results))
	for i, r := range results {
		row := []string{strconv.FormatInt(r.ID, 10), "-", "-", "-", "-", "-", "not found"}
		if j := r.Job; j != nil {
			change := "-> " + string(r.State)
			if r.State == "" {
				change = "not retried: " + r.Reason
			}
			row = []string{
				strconv.FormatInt(j.ID, 10), j.Queue, string(j.StateAt(now)),
				fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts), exitText(j.ExitCode, j.Signal),
				j.LastError, change,
			}
		}
		rows[i] = row
	}
	return writeTable(io.Out, []string{"ID", "QUEUE", "STATE", "ATTEMPTS", "EXIT", "LAST ERROR", "RETRY"}, rows)
}
