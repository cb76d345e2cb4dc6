package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// CancelOptions are cancel's dependencies and arguments.
type CancelOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	IDs []int64
}

func newCancelCmd(f *Factory) *cobra.Command {
	opts := &CancelOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	return &cobra.Command{
		Use:   "cancel ID...",
		Short: "Cancel jobs; a running job's process group is killed",
		Long: `Cancel jobs. A job not yet running ends cancelled at once, and so do the
jobs waiting for it (--after). A running job is stopped by its worker as
soon as it hears of the cancel (within about a second): SIGTERM to its
process group, SIGKILL after work.kill_grace; it then ends cancelled.

Exit status 1 when a job does not exist or had already ended; the others
are cancelled all the same.`,
		Example: `  jobq cancel 42
  jobq list --state pending -q reports --ids | xargs jobq cancel`,
		Args: jobIDArgs(&opts.IDs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCancel(cmd.Context(), opts)
		},
	}
}

func runCancel(ctx context.Context, opts *CancelOptions) error {
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	results, err := store.JobCancel(ctx, queue.JobCancelParams{IDs: opts.IDs, Now: opts.Now()})
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	failed := false
	for _, r := range results {
		switch {
		case !r.Found:
			fmt.Fprintf(opts.IO.ErrOut, "jobq: job %d: %v\n", r.ID, queue.ErrNotFound)
		case r.State.Final():
			fmt.Fprintf(opts.IO.ErrOut, "jobq: job %d had already ended %s\n", r.ID, r.State)
		default:
			continue
		}
		failed = true
	}
	if failed {
		return &ExitError{Code: exitFailure}
	}
	return nil
}
