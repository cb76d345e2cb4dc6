package cmd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// ListOptions are list's dependencies and flags.
type ListOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (queue.Store, error)
	Now       func() time.Time

	States string
	Queues []string
	Limit  int
	JSON   bool
	IDs    bool
}

func newListCmd(f *Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "list [--state S,..] [-q Q] [--limit N] [--json | --ids]",
		Short: "List jobs, newest first",
		Example: `  jobq list
  jobq list --state dead            # the dead-letter list
  jobq list --state pending,retrying -q mail --limit 20
  jobq list --state dead --ids | xargs jobq show`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.States, "state", "", "only jobs in these states, comma-separated")
	fl.StringSliceVarP(&opts.Queues, "queue", "q", nil, "only jobs in these queues")
	fl.IntVar(&opts.Limit, "limit", 100, "at most this many jobs; 0 for all")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON array of jobs")
	fl.BoolVar(&opts.IDs, "ids", false, "print only IDs, one per line")
	return cmd
}

func runList(ctx context.Context, opts *ListOptions) error {
	params := queue.JobListParams{Queues: opts.Queues, Limit: opts.Limit, Now: opts.Now()}
	var err error
	switch {
	case opts.JSON && opts.IDs:
		return usageErrorf("give --json or --ids, not both")
	case opts.Limit < 0:
		return usageErrorf("--limit must be 0 or more")
	}
	if opts.States != "" {
		if params.States, err = queue.ParseStates(opts.States); err != nil {
			return &UsageError{Err: err}
		}
	}
	for _, q := range opts.Queues {
		if err := queue.ValidateQueue(q); err != nil {
			return &UsageError{Err: err}
		}
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	jobs, err := store.JobList(ctx, params)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	switch {
	case opts.JSON:
		out := make([]jobJSON, len(jobs))
		for i, j := range jobs {
			out[i] = newJobJSON(j, params.Now)
		}
		return writeJSON(opts.IO.Out, out)
	case opts.IDs:
		for _, j := range jobs {
			fmt.Fprintln(opts.IO.Out, j.ID)
		}
		return nil
	}
	rows := make([][]string, len(jobs))
	for i, j := range jobs {
		rows[i] = []string{
			strconv.FormatInt(j.ID, 10), j.Queue, string(j.StateAt(params.Now)),
			strconv.Itoa(j.Priority), fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts),
			formatTime(j.CreatedAt, params.Now, opts.IO.IsTerminal), truncate(j.Command, 40),
			truncate(j.LastError, 40),
		}
	}
	return writeTable(opts.IO.Out, []string{"ID", "QUEUE", "STATE", "PRI", "ATTEMPTS", "CREATED", "COMMAND", "LAST ERROR"}, rows)
}
