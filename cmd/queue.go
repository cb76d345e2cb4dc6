package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// QueueOptions are the dependencies and flags of jobq queue's subcommands.
type QueueOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	Name        string
	Paused      *bool // pause or resume; nil: limit
	Concurrency intFlag
	Rate        stringFlag
}

func newQueueCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue pause|resume|limit Q",
		Short: "Pause, resume or limit a queue, across all workers",
		Long: `Settings of a queue, kept in the database, that every worker and drain
honours: a paused queue is not claimed from (running jobs go on); a
limited queue runs at most --concurrency jobs at once and starts at most
--rate jobs per period, across all workers together.

A queue may be paused or limited before it has jobs; jobq says so on
stderr, in case the name was mistyped.`,
		Example: `  jobq queue pause mail
  jobq queue resume mail
  jobq queue limit api --concurrency 2 --rate 10/m
  jobq stats   # which queues are paused or limited`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("missing command: pause, resume or limit")
			}
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		},
	}
	for _, paused := range []bool{true, false} {
		name, short := "pause", "Stop claiming jobs from a queue"
		long := `Stop every worker and drain, on any host sharing the database, from
claiming jobs of the queue Q; jobs already running go on, and jobs can still
be enqueued. The pause is kept in the database until 'jobq queue resume Q';
'jobq stats' shows it. A queue with no jobs yet may be paused ahead of a
batch; jobq then says so on stderr, which also catches a mistyped name.`
		if !paused {
			name, short = "resume", "Claim jobs from a paused queue again"
			long = `Let workers and drains claim jobs of the paused queue Q again, from where
they stopped: jobs enqueued during the pause run by priority, then start
time, as usual. Resuming a queue that is not paused changes nothing.`
		}
		opts := &QueueOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now, Paused: &paused}
		cmd.AddCommand(&cobra.Command{
			Use:     name + " Q",
			Short:   short,
			Long:    long,
			Example: "  jobq queue " + name + " mail",
			Args:    oneArg("queue name"),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.Name = args[0]
				return runQueueSet(cmd.Context(), opts)
			},
		})
	}

	opts := &QueueOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	limit := &cobra.Command{
		Use:   "limit Q [--concurrency N] [--rate N/PERIOD]",
		Short: "Limit how many jobs of a queue run at once, or start per period",
		Long: `Cap the jobs of queue Q that run at once (--concurrency N) or that start
per period (--rate N/PERIOD: 10/m, 5/s, 100/1h), across all workers and
drains together, to spare an API or a database the jobs call; 0 removes a
limit, and a flag not given leaves its limit as it was. The rate counts jobs
by their latest start. 'jobq work' waits for a limit to let a job start;
'jobq drain' counts a held-back job as not ready.`,
		Example: `  jobq queue limit mail --concurrency 2
  jobq queue limit api --rate 10/m
  jobq queue limit api --rate 0 --concurrency 0   # no limits`,
		Args: oneArg("queue name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runQueueSet(cmd.Context(), opts)
		},
	}
	limit.Flags().Var(&opts.Concurrency, "concurrency", "jobs running at once at most; 0: no limit")
	limit.Flags().Var(&opts.Rate, "rate", "jobs started at most per period, e.g. 10/m, 5/s, 100/1h; 0: no limit")
	cmd.AddCommand(limit)
	return cmd
}

func runQueueSet(ctx context.Context, opts *QueueOptions) error {
	if err := queue.ValidateQueue(opts.Name); err != nil {
		return &UsageError{Err: err}
	}
	params := queue.QueueSetParams{Name: opts.Name, Paused: opts.Paused}
	if opts.Paused == nil {
		if !opts.Concurrency.Given && !opts.Rate.Given {
			return usageErrorf("give --concurrency or --rate")
		}
		if opts.Concurrency.Given {
			if opts.Concurrency.N < 0 {
				return usageErrorf("--concurrency must be 0 (no limit) or more")
			}
			params.Concurrency = &opts.Concurrency.N
		}
		if opts.Rate.Given {
			n, period := 0, time.Duration(0)
			if opts.Rate.S != "0" {
				var err error
				if n, period, err = queue.ParseRate(opts.Rate.S); err != nil {
					return &UsageError{Err: fmt.Errorf("--rate: %w", err)}
				}
			}
			params.Rate, params.RatePeriod = &n, &period
		}
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.QueueSet(ctx, params); err != nil {
		return fmt.Errorf("queue %s: %w", opts.Name, err)
	}
	limits := params.Concurrency != nil && *params.Concurrency > 0 || params.Rate != nil && *params.Rate > 0
	if opts.Paused == nil && !limits || opts.Paused != nil && !*opts.Paused {
		return nil // lifted a setting: nothing to warn of
	}
	// Setting a queue ahead of its jobs is legitimate, and so is a typo
	// (pause mial): say which this may be.
	n, err := store.JobCount(ctx, queue.JobFilter{Queues: []string{opts.Name}, Now: opts.Now()})
	if err != nil {
		return fmt.Errorf("queue %s: %w", opts.Name, err)
	}
	if n == 0 {
		done := "limited"
		if opts.Paused != nil {
			done = "paused"
		}
		fmt.Fprintf(opts.IO.ErrOut, "jobq: queue %s has no jobs yet; %s all the same\n", opts.Name, done)
	}
	return nil
}
