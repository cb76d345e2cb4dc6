package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/queue"
)

// DrainOptions are drain's dependencies and flags.
type DrainOptions struct {
	IO        IOStreams
	Config    func() (*config.Config, error)
	DBPath    func() (string, error)
	OpenStore func(context.Context) (queue.Store, error)
	Now       func() time.Time
	Environ   func() []string

	Queues      []string
	Concurrency int
}

func newDrainCmd(f *Factory, runF func(context.Context, *DrainOptions) error) *cobra.Command {
	opts := &DrainOptions{IO: f.IO, Config: f.Config, DBPath: f.DBPath, OpenStore: f.OpenStore, Now: f.Now, Environ: f.Environ}
	cmd := &cobra.Command{
		Use:   "drain [-q Q] [-c N]",
		Short: "Run ready jobs in the foreground until none is ready",
		Long: `Run ready jobs, N at a time, in the foreground, and exit once no job is
ready and none of those it started is still running. Jobs waiting for a
retry or a later start are left for a later drain or for 'jobq work'.

Exit status 0 when every job it ran succeeded or will be retried; 1 when a
job it ran went dead. On SIGINT or SIGTERM it stops its running jobs and
hands them back as pending without using an attempt.`,
		Example: `  jobq drain
  jobq drain -q mail -c 4
  */5 * * * * jobq drain -q reports   # a crontab line`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("concurrency") {
				opts.Concurrency = 0
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDrain(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVarP(&opts.Queues, "queue", "q", nil, "only these queues (default: all)")
	cmd.Flags().IntVarP(&opts.Concurrency, "concurrency", "c", 0, "jobs at once (default: config work.concurrency, 1)")
	return cmd
}

func runDrain(ctx context.Context, opts *DrainOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	for _, q := range opts.Queues {
		if err := queue.ValidateQueue(q); err != nil {
			return &UsageError{Err: err}
		}
	}
	switch {
	case opts.Concurrency < 0:
		return usageErrorf("-c must be 1 or more")
	case opts.Concurrency == 0:
		opts.Concurrency = cfg.Work.Concurrency
	}
	path, err := opts.DBPath()
	if err != nil {
		return err
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()

	r := newRunner(store, cfg, path, opts.IO, opts.Now, opts.Environ())
	r.Queues, r.Concurrency = opts.Queues, opts.Concurrency
	sum, err := r.Drain(ctx)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if sum.Dead > 0 {
		return &ExitError{Code: exitFailure, Err: fmt.Errorf("%d job(s) went dead; see 'jobq list --state dead'", sum.Dead)}
	}
	return nil
}

// newRunner sets up a Runner as drain and work share it.
func newRunner(store queue.Store, cfg *config.Config, dbPath string, io IOStreams, now func() time.Time, environ []string) *queue.Runner {
	host, _ := os.Hostname()
	return &queue.Runner{
		Store:       store,
		Worker:      host + ":" + strconv.Itoa(os.Getpid()),
		Concurrency: cfg.Work.Concurrency,
		Lease:       cfg.Work.Lease,
		Now:         now,
		Jitter:      rand.Float64,
		Log:         slog.New(slog.NewTextHandler(io.ErrOut, nil)),
		Exec: &queue.Executor{
			Environ:     environ,
			DB:          dbPath,
			OutputLimit: cfg.Work.OutputLimit,
			KillGrace:   cfg.Work.KillGrace,
			Now:         now,
		},
	}
}
