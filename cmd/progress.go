package cmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// ProgressOptions are progress' dependencies and arguments.
type ProgressOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time
	LookupEnv func(string) (string, bool)

	Percent float64
	Message string
}

// maxProgressMessage bounds what jobq progress keeps of a message.
const maxProgressMessage = 200

func newProgressCmd(f *Factory) *cobra.Command {
	opts := &ProgressOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now, LookupEnv: f.LookupEnv}
	return &cobra.Command{
		Use:   "progress PERCENT [MESSAGE...]",
		Short: "Report a running job's progress, from inside the job",
		Long: `Report how far the running job has got: PERCENT from 0 to 100, and a short
message. 'jobq list' shows it beside a running job, 'jobq show' with the
message and when it was reported. The job is the one in JOBQ_JOB_ID and
JOBQ_ATTEMPT, which the worker sets; a report of an earlier attempt (its
worker lost, the job taken back) is refused with exit status 1.

The next attempt starts without progress; the last report stays on a job
that ended, to show where it stopped.`,
		Example: `  # in a job's script
  jobq progress 10 'downloading'
  jobq progress 62.5 "copied $n of $total files"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("progress takes PERCENT and an optional message")
			}
			p, err := queue.ParsePercent(args[0])
			if err != nil {
				return &UsageError{Err: err}
			}
			opts.Percent = p
			opts.Message = strings.Join(strings.Fields(strings.Join(args[1:], " ")), " ")
			if err := queue.ValidateText("message", opts.Message); err != nil {
				return &UsageError{Err: err}
			}
			if len(opts.Message) > maxProgressMessage {
				return usageErrorf("the message has %d bytes; at most %d", len(opts.Message), maxProgressMessage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProgress(cmd.Context(), opts)
		},
	}
}

// jobEnv reads a positive number the worker gives a job in its
// environment.
func jobEnv(lookup func(string) (string, bool), name string) (int64, error) {
	s, ok := lookup(name)
	if !ok {
		return 0, &UsageError{Err: fmt.Errorf("%s is not set: jobq progress reports from inside a running job", name), NoHelp: true}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > 1<<31-1 && name == "JOBQ_ATTEMPT" {
		return 0, &UsageError{Err: fmt.Errorf("%s=%q is not what a worker sets", name, s), NoHelp: true}
	}
	return n, nil
}

func runProgress(ctx context.Context, opts *ProgressOptions) error {
	id, err := jobEnv(opts.LookupEnv, "JOBQ_JOB_ID")
	if err != nil {
		return err
	}
	attempt, err := jobEnv(opts.LookupEnv, "JOBQ_ATTEMPT")
	if err != nil {
		return err
	}
	params := queue.JobProgressParams{ID: id, Attempt: int(attempt), Percent: opts.Percent, Message: opts.Message, At: opts.Now()}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	err = store.JobProgress(ctx, params)
	if errors.Is(err, queue.ErrNotRunning) {
		return fmt.Errorf("job %d is not running attempt %d: progress not recorded", params.ID, params.Attempt)
	}
	if err != nil {
		return fmt.Errorf("job %d: %w", params.ID, err)
	}
	return nil
}
