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
	OpenStore func(context.Context) (storeNotifier, error)

	Params queue.QueueSetParams
}

func newQueueCmd(f *Factory, runF func(context.Context, *QueueOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue pause|resume|limit Q",
		Short: "Pause, resume or limit a queue, across all workers",
		Long: `Settings of a queue, kept in the database, that every worker and drain
honours: a paused queue is not claimed from (running jobs go on); a
limited queue runs at most --concurrency jobs at once and starts at most
--rate jobs per period, across all workers together.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("missing command: pause, resume or limit")
			}
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		},
	}
	run := func(cmd *cobra.Command, opts *QueueOptions) error {
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return runQueueSet(cmd.Context(), opts)
	}
	for _, paused := range []bool{true, false} {
		name, short := "pause", "Stop claiming jobs from a queue"
		if !paused {
			name, short = "resume", "Claim jobs from a paused queue again"
		}
		opts := &QueueOptions{OpenStore: f.OpenStore}
		cmd.AddCommand(&cobra.Command{
			Use:     name + " Q",
			Short:   short,
			Example: "  jobq queue " + name + " mail",
			Args:    exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.Params = queue.QueueSetParams{Name: args[0], Paused: &paused}
				return run(cmd, opts)
			},
		})
	}

	opts := &QueueOptions{OpenStore: f.OpenStore}
	var concurrency int
	var rate string
	limit := &cobra.Command{
		Use:   "limit Q [--concurrency N] [--rate N/PERIOD]",
		Short: "Limit how many jobs of a queue run at once, or start per period",
		Example: `  jobq queue limit mail --concurrency 2
  jobq queue limit api --rate 10/m
  jobq queue limit api --rate 0 --concurrency 0   # no limits`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Params = queue.QueueSetParams{Name: args[0]}
			fl := cmd.Flags()
			if !fl.Changed("concurrency") && !fl.Changed("rate") {
				return usageErrorf("give --concurrency or --rate")
			}
			if fl.Changed("concurrency") {
				if concurrency < 0 {
					return usageErrorf("--concurrency must be 0 (no limit) or more")
				}
				opts.Params.Concurrency = &concurrency
			}
			if fl.Changed("rate") {
				n, period := 0, time.Duration(0)
				if rate != "0" {
					var err error
					if n, period, err = queue.ParseRate(rate); err != nil {
						return &UsageError{Err: fmt.Errorf("--rate: %w", err)}
					}
				}
				opts.Params.Rate, opts.Params.RatePeriod = &n, &period
			}
			return run(cmd, opts)
		},
	}
	limit.Flags().IntVar(&concurrency, "concurrency", 0, "jobs running at once at most; 0: no limit")
	limit.Flags().StringVar(&rate, "rate", "", "jobs started at most per period, e.g. 10/m, 5/s, 100/1h; 0: no limit")
	cmd.AddCommand(limit)
	return cmd
}

func runQueueSet(ctx context.Context, opts *QueueOptions) error {
	if err := queue.ValidateQueue(opts.Params.Name); err != nil {
		return &UsageError{Err: err}
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.QueueSet(ctx, opts.Params); err != nil {
		return fmt.Errorf("queue %s: %w", opts.Params.Name, err)
	}
	return nil
}
