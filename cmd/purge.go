package cmd

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// PurgeOptions are purge's dependencies and flags.
type PurgeOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	Filter filterFlags
	Yes    bool
	DryRun bool
}

// purgeBatch is how many jobs one transaction of purge deletes: workers
// wait for the write lock no longer than a batch takes.
const purgeBatch = 1000

func newPurgeCmd(f *Factory) *cobra.Command {
	opts := &PurgeOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "purge [--state S] [-q Q] [--older-than D] [filters] [--yes | --dry-run]",
		Short: "Delete jobs and their history; never running ones",
		Long: `Delete the jobs the filters of 'jobq list' pick, with their history and
events. Without --state, the jobs that ended (succeeded, dead, cancelled);
a job not ended goes only if its state is named, and a running job never.

Asks first on a terminal; elsewhere (cron, scripts) --yes is needed.
--dry-run lists what would go and deletes nothing. Jobs are deleted a
thousand at a time, so that workers are not held up; an interrupted purge
has deleted some of them.`,
		Example: `  jobq purge --older-than 30d
  jobq purge --state dead -q mail --older-than 7d --yes
  jobq purge --state pending -q reports --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPurge(cmd.Context(), opts)
		},
	}
	opts.Filter.register(cmd.Flags())
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be deleted; delete nothing")
	return cmd
}

func runPurge(ctx context.Context, opts *PurgeOptions) error {
	filter, err := opts.Filter.filter(opts.Now())
	if err != nil {
		return err
	}
	if len(filter.States) == 0 {
		filter.States = []queue.State{queue.StateSucceeded, queue.StateDead, queue.StateCancelled}
	}
	for _, st := range filter.States {
		if st == queue.StateRunning {
			return usageErrorf("purge never deletes running jobs: cancel them first")
		}
	}
	if opts.Yes && opts.DryRun {
		return usageErrorf("give --yes or --dry-run, not both")
	}
	described := describeFilter(filter)
	// Only jobs whose time came before now: a job that ends or is
	// enqueued while purge asks or deletes is not one it counted.
	if filter.Before.IsZero() || filter.Before.After(filter.Now) {
		filter.Before = filter.Now
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if opts.DryRun {
		jobs, err := store.JobList(ctx, filter)
		if err != nil {
			return fmt.Errorf("list jobs: %w", err)
		}
		if err := writeJobTable(opts.IO, jobs, filter); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "jobq: dry run: would delete %s; nothing was deleted\n", plural(len(jobs), "job"))
		return nil
	}
	n, err := store.JobCount(ctx, filter)
	if err != nil {
		return fmt.Errorf("count jobs: %w", err)
	}
	if n == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "jobq: no job matches; nothing was deleted")
		return nil
	}
	if !opts.Yes {
		if !opts.IO.CanPrompt {
			return &UsageError{Err: fmt.Errorf("purge would delete %s: add --yes to confirm (no terminal to ask on)", plural(n, "job")), NoHelp: true}
		}
		fmt.Fprintf(opts.IO.ErrOut, "Delete %s (%s) and their history? [y/N] ", plural(n, "job"), described)
		answer, _ := bufio.NewReader(opts.IO.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return &ExitError{Code: exitFailure, Err: fmt.Errorf("nothing was deleted")}
		}
	}
	filter.Limit = purgeBatch
	deleted := 0
	for {
		k, err := store.JobDelete(ctx, filter)
		deleted += k
		if err != nil && deleted > 0 {
			// Not "nothing was written" (exit 75): some batches were.
			return &ExitError{Code: exitFailure, Err: fmt.Errorf("purge stopped after deleting %s: %v; run it again to finish", plural(deleted, "job"), err)}
		}
		if err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		if k < purgeBatch {
			break
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "jobq: deleted %s\n", plural(deleted, "job"))
	return nil
}

// describeFilter says in a few words which jobs a filter picks.
func describeFilter(f queue.JobFilter) string {
	var parts []string
	states := make([]string, len(f.States))
	for i, s := range f.States {
		states[i] = string(s)
	}
	parts = append(parts, strings.Join(states, ", "))
	if len(f.Queues) > 0 {
		parts = append(parts, "in "+strings.Join(f.Queues, ", "))
	}
	if len(f.ExitCodes) > 0 {
		parts = append(parts, "exit code "+queue.FormatExitCodes(f.ExitCodes))
	}
	if f.Error != "" {
		parts = append(parts, fmt.Sprintf("error containing %q", f.Error))
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since "+f.Since.Format(time.RFC3339))
	}
	if !f.Before.IsZero() {
		parts = append(parts, "before "+f.Before.Format(time.RFC3339))
	}
	return strings.Join(parts, "; ")
}
