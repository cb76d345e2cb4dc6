package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// defaultListLimit is how many jobs list shows unless told otherwise.
const defaultListLimit = 100

// ListOptions are list's dependencies and flags.
type ListOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	Filter   filterFlags
	Schedule string  // only the jobs this schedule made
	Limit    intFlag // not given: defaultListLimit
	JSON     bool
	IDs      bool
}

func newListCmd(f *Factory) *cobra.Command {
	opts := &ListOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "list [--state S,..] [-q Q] [filters] [--limit N] [--json | --ids]",
		Short: "List jobs, newest first; --state dead is the dead-letter list",
		Long: `List jobs, newest first. Running jobs show the progress they reported.

With only final states (--state dead, the dead-letter list), the table
shows why each job ended: its attempts, the exit code or signal of its
last attempt, when it ended and its last error. The same filters pick
jobs for 'jobq retry' and 'jobq purge': look with list, then act.

Times are relative on a terminal ("3m ago") and exact otherwise; --json
gives every field, times in RFC 3339 UTC.`,
		Example: `  jobq list
  jobq list --state dead                      # the dead-letter list
  jobq list --state dead -q mail --exit-code 75 --since 2h
  jobq list --state dead --error 'timed out'
  jobq list --state pending,retrying -q mail --limit 20
  jobq list --schedule backup --limit 10
  jobq list --state dead --ids | xargs -n1 jobq show`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	opts.Filter.register(fl)
	fl.StringVar(&opts.Schedule, "schedule", "", "only the jobs this schedule (`NAME`) made")
	fl.Var(&opts.Limit, "limit", "at most `N` jobs (default 100); 0 for all")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON array of jobs")
	fl.BoolVar(&opts.IDs, "ids", false, "print only IDs, one per line")
	return cmd
}

func runList(ctx context.Context, opts *ListOptions) error {
	switch {
	case opts.JSON && opts.IDs:
		return usageErrorf("give --json or --ids, not both")
	case opts.Limit.N < 0:
		return usageErrorf("--limit must be 0 or more")
	}
	filter, err := opts.Filter.filter(opts.Now())
	if err != nil {
		return err
	}
	filter.Limit = defaultListLimit
	if opts.Limit.Given {
		filter.Limit = opts.Limit.N
	}
	if opts.Schedule != "" {
		if err := queue.ValidateScheduleName(opts.Schedule); err != nil {
			return &UsageError{Err: err}
		}
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if opts.Schedule != "" {
		sc, err := store.ScheduleGet(ctx, opts.Schedule)
		if err != nil {
			return fmt.Errorf("schedule %s: %w", opts.Schedule, err)
		}
		filter.ScheduleID = sc.ID
	}
	jobs, err := store.JobList(ctx, filter)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	if !opts.Limit.Given && len(jobs) == filter.Limit {
		// The default cut the list: say so, or the oldest jobs go unseen.
		all := filter
		all.Limit = 0
		n, err := store.JobCount(ctx, all)
		if err != nil {
			return fmt.Errorf("count jobs: %w", err)
		}
		if n > len(jobs) {
			fmt.Fprintf(opts.IO.ErrOut, "jobq: showing the newest %d of %d jobs; use --limit 0 for all\n", len(jobs), n)
		}
	}
	switch {
	case opts.JSON:
		out := make([]jobJSON, len(jobs))
		for i, j := range jobs {
			out[i] = newJobJSON(j, filter.Now)
		}
		return writeJSON(opts.IO.Out, out)
	case opts.IDs:
		for _, j := range jobs {
			fmt.Fprintln(opts.IO.Out, j.ID)
		}
		return nil
	}
	return writeJobTable(opts.IO, jobs, filter)
}
