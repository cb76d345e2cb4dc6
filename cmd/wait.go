package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

const exitTimeout = 124 // as timeout(1) says it

// WaitOptions are wait's dependencies and flags.
type WaitOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (queue.Store, error)

	IDs     []int64
	Timeout durationFlag
}

func newWaitCmd(f *Factory) *cobra.Command {
	opts := &WaitOptions{IO: f.IO, OpenStore: f.OpenStore}
	cmd := &cobra.Command{
		Use:   "wait ID... [--timeout D]",
		Short: "Wait until jobs end: 0 all succeeded, 1 one dead or cancelled, 124 timeout",
		Example: `  id=$(jobq enqueue 'make release') && jobq wait "$id" && echo released
  jobq wait 41 42 43 --timeout 10m`,
		Args: jobIDArgs(&opts.IDs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd.Context(), opts)
		},
	}
	cmd.Flags().Var(&opts.Timeout, "timeout", "give up after this long with exit status 124; 0: never")
	return cmd
}

func runWait(ctx context.Context, opts *WaitOptions) error {
	if opts.Timeout.D > 0 { // 0, as everywhere, means none
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout.D)
		defer cancel()
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	pending := opts.IDs
	failed := false
	for {
		var still []int64
		for _, id := range pending {
			job, err := store.JobGet(ctx, id)
			if err != nil {
				return waitError(ctx, fmt.Errorf("job %d: %w", id, err), pending)
			}
			switch job.State {
			case queue.StateSucceeded:
			case queue.StateDead, queue.StateCancelled:
				fmt.Fprintf(opts.IO.ErrOut, "jobq: job %d ended %s\n", id, job.State)
				failed = true
			default:
				still = append(still, id)
			}
		}
		if pending = still; len(pending) == 0 {
			break
		}
		if err := store.Wait(ctx, time.Second); err != nil {
			return waitError(ctx, err, pending)
		}
	}
	if failed {
		return &ExitError{Code: exitFailure}
	}
	return nil
}

// waitError is err, or exit 124 when the wait timed out.
func waitError(ctx context.Context, err error, pending []int64) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &ExitError{Code: exitTimeout, Err: fmt.Errorf("timed out waiting for job(s) %s", joinIDs(pending))}
	}
	return err
}
