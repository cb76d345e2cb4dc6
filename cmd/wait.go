package cmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

const exitTimeout = 124 // as timeout(1) says it

// waitChunk bounds the job IDs one query of wait names (SQLite bounds the
// parameters of a statement).
const waitChunk = 500

// bigWaitEvery is how often a wait for more than waitChunk jobs looks.
const bigWaitEvery = 250 * time.Millisecond

// WaitOptions are wait's dependencies and flags.
type WaitOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	IDs     []int64
	Queues  []string
	Timeout durationFlag
}

func newWaitCmd(f *Factory) *cobra.Command {
	opts := &WaitOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "wait ID... | -q Q [--timeout D]",
		Short: "Wait until jobs end: 0 all succeeded, 1 one dead or cancelled, 124 timeout",
		Long: `Wait until the jobs named have ended, or, with -q, every job of the queue
that had not ended when wait started (jobs enqueued later are not waited
for). Exit status 0 when all succeeded, 1 when one ended dead or cancelled
(named on stderr) or does not exist, 124 when --timeout passed first.

On a terminal it says on stderr how many jobs of the queue it waits for,
and how each job ended as it ends.`,
		Example: `  id=$(jobq enqueue 'make release') && jobq wait "$id" && echo released
  jobq wait 41 42 43 --timeout 10m
  find . -name '*.wav' | sed 's/.*/flac "&"/' | jobq enqueue --batch -q encode >/dev/null
  jobq wait -q encode`,
		Args: optionalJobIDArgs(&opts.IDs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVarP(&opts.Queues, "queue", "q", nil, "every job of these `queues` not ended when wait starts")
	cmd.Flags().Var(&opts.Timeout, "timeout", "give up after this long with exit status 124; 0: never")
	return cmd
}

func runWait(ctx context.Context, opts *WaitOptions) error {
	switch {
	case len(opts.IDs) > 0 && len(opts.Queues) > 0:
		return usageErrorf("give job IDs or -q, not both")
	case len(opts.IDs) == 0 && len(opts.Queues) == 0:
		return usageErrorf("wait takes one or more job IDs, or -q QUEUE")
	}
	for _, q := range opts.Queues {
		if err := queue.ValidateQueue(q); err != nil {
			return &UsageError{Err: err}
		}
	}
	if opts.Timeout.D > 0 { // 0, as everywhere, means none
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout.D)
		defer cancel()
	}
	w := waiter{io: opts.IO, now: opts.Now, queues: opts.Queues, pending: slices.Clone(opts.IDs)}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return w.error(ctx, err)
	}
	defer store.Close()
	w.store = store
	if len(opts.Queues) > 0 {
		if err := w.checkQueues(ctx); err != nil {
			return w.error(ctx, err)
		}
		if err := w.listQueues(ctx); err != nil {
			return w.error(ctx, err)
		}
		if len(w.pending) == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "jobq: no job of queue %s is left to wait for\n", strings.Join(opts.Queues, ", "))
			return nil
		}
		if opts.IO.ErrTerminal {
			fmt.Fprintf(opts.IO.ErrOut, "jobq: waiting for %s of queue %s\n", plural(len(w.pending), "job"), strings.Join(opts.Queues, ", "))
		}
	}
	w.total = len(w.pending)
	for {
		looked := time.Now()
		if err := w.look(ctx); err != nil {
			return w.error(ctx, err)
		}
		if len(w.pending) == 0 {
			break
		}
		if err := store.Wait(ctx, time.Second); err != nil {
			return w.error(ctx, err)
		}
		if len(w.pending) > waitChunk {
			// A busy worker commits many times a second: a wait for a
			// large batch looks at most every bigWaitEvery, not at each.
			select {
			case <-ctx.Done():
				return w.error(ctx, ctx.Err())
			case <-time.After(time.Until(looked.Add(bigWaitEvery))):
			}
		}
	}
	if w.failed {
		return &ExitError{Code: exitFailure}
	}
	return nil
}

// waiter follows the jobs wait waits for.
type waiter struct {
	io      IOStreams
	store   queue.Store
	now     func() time.Time
	queues  []string
	pending []int64 // not ended when last looked at
	listed  bool    // -q: the queues' jobs were read into pending
	total   int     // jobs waited for
	done    int     // of them, ended
	failed  bool
}

// checkQueues refuses a queue that has no job at all, ended or not: more
// likely a typo (wait -q encdoe && deploy) than a batch that ended.
func (w *waiter) checkQueues(ctx context.Context) error {
	for _, q := range w.queues {
		n, err := w.store.JobCount(ctx, queue.JobFilter{Queues: []string{q}, Now: w.now()})
		if err != nil {
			return fmt.Errorf("count jobs: %w", err)
		}
		if n == 0 {
			return &ExitError{Code: exitFailure, Err: fmt.Errorf("queue %s has no jobs: nothing to wait for", q)}
		}
	}
	return nil
}

// notEnded are the states of a job wait still waits for.
var notEnded = slices.DeleteFunc(slices.Clone(queue.States), queue.State.Final)

// listQueues takes as pending every job of the queues not ended now.
func (w *waiter) listQueues(ctx context.Context) error {
	jobs, err := w.store.JobList(ctx, queue.JobFilter{Queues: w.queues, States: notEnded, Now: w.now()})
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	for _, j := range jobs {
		w.pending = append(w.pending, j.ID)
	}
	slices.Sort(w.pending) // oldest first, as they are reported
	w.listed = true
	return nil
}

// look takes out of pending the jobs that ended (or no longer exist),
// saying how each ended: on stderr always for a failure, and for every job
// when a person watches stderr.
func (w *waiter) look(ctx context.Context) error {
	var still []int64
	for chunk := range slices.Chunk(w.pending, waitChunk) {
		// Counting reads an index entry a job; listing reads whole jobs.
		// Most looks at a large batch find most of it still running.
		n, err := w.store.JobCount(ctx, queue.JobFilter{IDs: chunk, States: notEnded, Now: w.now()})
		if err != nil {
			return fmt.Errorf("count jobs: %w", err)
		}
		if n == len(chunk) {
			still = append(still, chunk...)
			continue
		}
		jobs, err := w.store.JobList(ctx, queue.JobFilter{IDs: chunk, Now: w.now()})
		if err != nil {
			return fmt.Errorf("list jobs: %w", err)
		}
		byID := make(map[int64]*queue.Job, len(jobs))
		for _, j := range jobs {
			byID[j.ID] = j
		}
		for _, id := range chunk {
			job, ok := byID[id]
			switch {
			case !ok:
				fmt.Fprintf(w.io.ErrOut, "jobq: job %d: %v%s\n", id, queue.ErrNotFound, w.count())
				w.failed = true
			case !job.State.Final():
				still = append(still, id)
				continue
			case job.State != queue.StateSucceeded:
				fmt.Fprintf(w.io.ErrOut, "jobq: job %d ended %s%s\n", id, job.State, w.count())
				w.failed = true
			case w.io.ErrTerminal:
				fmt.Fprintf(w.io.ErrOut, "jobq: job %d succeeded%s\n", id, w.count())
			}
		}
	}
	w.pending = still
	return nil
}

// count counts a job that ended and, to a person watching, says how far
// a wait for several is: " (3 of 10 ended)".
func (w *waiter) count() string {
	w.done++
	if w.total < 2 || !w.io.ErrTerminal {
		return ""
	}
	return fmt.Sprintf(" (%d of %d ended)", w.done, w.total)
}

// error is err, or exit 124 when the wait timed out.
func (w *waiter) error(ctx context.Context, err error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	if len(w.queues) > 0 && !w.listed {
		// Not "0 jobs not ended": their number was never read.
		return &ExitError{Code: exitTimeout, Err: fmt.Errorf("timed out before the jobs of queue %s were read",
			strings.Join(w.queues, ", "))}
	}
	if len(w.queues) > 0 {
		return &ExitError{Code: exitTimeout, Err: fmt.Errorf("timed out with %s of queue %s not ended",
			plural(len(w.pending), "job"), strings.Join(w.queues, ", "))}
	}
	noun := "job"
	if len(w.pending) > 1 {
		noun = "jobs"
	}
	return &ExitError{Code: exitTimeout, Err: fmt.Errorf("timed out waiting for %s %s", noun, joinIDs(w.pending))}
}
