package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// EventsOptions are events' dependencies and flags.
type EventsOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)

	Job    jobIDFlag // 0: every job
	Follow bool
	JSON   bool
	Limit  int
}

// followCheck bounds how long events -f waits without looking, should a
// change go unnoticed (a database on a filesystem without inotify).
const followCheck = 2 * time.Second

func newEventsCmd(f *Factory) *cobra.Command {
	opts := &EventsOptions{IO: f.IO, OpenStore: f.OpenStore}
	cmd := &cobra.Command{
		Use:   "events [--job ID] [-f] [--json] [--limit N]",
		Short: "Print the log of job transitions; -f to follow it",
		Long: `Print the append-only log of transitions: every change of a job's state,
oldest first, with the attempt, the worker and, for a failure or a
cancellation, why. A line reads:

  TIME  JOB  FROM -> TO  attempt N  [WORKER]  [ERROR]

--limit shows only the last N (default 100; 0 for all). -f keeps printing
new transitions as they happen, like tail -f, until interrupted; with --job
it stops once that job has ended. --json prints one object per line.
The events of a job go when the job is deleted (retention, purge).`,
		Example: `  jobq events --job 42
  jobq events -f
  jobq events --job 42 -f --json | jq -r .to_state`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.Var(&opts.Job, "job", "only the transitions of job `ID`")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new transitions")
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object per line")
	fl.IntVar(&opts.Limit, "limit", 100, "only the last `N` transitions to begin with; 0 for all")
	return cmd
}

func runEvents(ctx context.Context, opts *EventsOptions) error {
	job := int64(opts.Job)
	if opts.Limit < 0 {
		return usageErrorf("--limit must be 0 or more")
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if job != 0 {
		if _, err := store.JobGet(ctx, job); err != nil {
			return fmt.Errorf("job %d: %w", job, err)
		}
	}
	params := queue.EventListParams{JobID: job, Last: opts.Limit}
	for {
		events, err := store.EventList(ctx, params)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("events: %w", err)
		}
		var b bytes.Buffer
		for _, e := range events {
			writeEvent(&b, e, opts.JSON)
			params.AfterID = e.ID
		}
		if _, err := opts.IO.Out.Write(b.Bytes()); err != nil {
			return err
		}
		if !opts.Follow {
			return nil
		}
		if job != 0 && len(events) > 0 && events[len(events)-1].To.Final() {
			return nil
		}
		if job != 0 && len(events) == 0 {
			if _, err := store.JobGet(ctx, job); errors.Is(err, queue.ErrNotFound) {
				return fmt.Errorf("job %d was deleted", job)
			}
		}
		params.Last = 0
		if err := store.Wait(ctx, followCheck); err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("events: %w", err)
		}
	}
}

// eventTime is RFC 3339 with milliseconds, in local time with its offset,
// as list and show print times: transitions come close together.
const eventTime = "2006-01-02T15:04:05.000Z07:00"

func writeEvent(b *bytes.Buffer, e queue.Event, asJSON bool) {
	if asJSON {
		line, _ := json.Marshal(eventJSON{
			ID: e.ID, JobID: e.JobID, At: optTime(e.At), FromState: optString(string(e.From)),
			ToState: e.To, Attempt: e.Attempt, Worker: optString(e.Worker), Error: optString(e.Error),
			Schedule: optString(e.Schedule),
		})
		b.Write(line)
		b.WriteByte('\n')
		return
	}
	if e.Schedule != "" {
		// Not a transition: a tick skipped for this job (--overlap skip).
		fmt.Fprintf(b, "%s  %d  %s  %s\n", e.At.Local().Format(eventTime), e.JobID, e.To, e.Error)
		return
	}
	fmt.Fprintf(b, "%s  %s  %s -> %s  attempt %d", e.At.Local().Format(eventTime),
		strconv.FormatInt(e.JobID, 10), orDash(string(e.From)), e.To, e.Attempt)
	if e.Worker != "" {
		fmt.Fprintf(b, "  %s", e.Worker)
	}
	if e.Error != "" {
		fmt.Fprintf(b, "  %s", truncate(e.Error, 100))
	}
	b.WriteByte('\n')
}
