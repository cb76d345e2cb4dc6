package cmd

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// LogsOptions are logs' dependencies and flags.
type LogsOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)

	ID      int64
	Attempt intFlag // not given: the last
}

func newLogsCmd(f *Factory) *cobra.Command {
	opts := &LogsOptions{IO: f.IO, OpenStore: f.OpenStore}
	cmd := &cobra.Command{
		Use:   "logs ID [--attempt N]",
		Short: "Print the captured output of a job's attempt, raw",
		Long: `Print what a job's command wrote to stdout and stderr (captured together)
during its last attempt, or during attempt N (numbered as in 'jobq show').
At most work.output_limit bytes are kept per attempt: the tail, after a
marker line saying how much was cut.`,
		Example: `  jobq logs 42
  jobq logs 42 --attempt 1 | less`,
		Args: jobIDArg(&opts.ID),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().Var(&opts.Attempt, "attempt", "the attempt `N` (as numbered by jobq show; default the last)")
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
		first, last := history[0].Attempt, a.Attempt
		switch {
		case i < 0 && first == last:
			return fmt.Errorf("job %d has no attempt %d: its only attempt is %d", opts.ID, opts.Attempt.N, last)
		case i < 0:
			return fmt.Errorf("job %d has no attempt %d: its attempts are %d to %d", opts.ID, opts.Attempt.N, first, last)
		}
		a = history[i]
	}
	_, err = opts.IO.Out.Write(a.Output)
	return err
}
