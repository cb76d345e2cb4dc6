package cmd

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// ScheduleListOptions are the dependencies and flags of schedule list and
// schedule show.
type ScheduleListOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	Name string // show
	JSON bool
}

// recentJobs is how many of its jobs schedule show lists.
const recentJobs = 10

func newScheduleListCmd(f *Factory) *cobra.Command {
	opts := &ScheduleListOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List schedules: next and last run, the last job's state, health",
		Long: `List schedules by name: the expression and its zone, the next run, the
last run and the state of its last job, when a job of it last succeeded,
how many of its jobs in a row ended dead since (FAILS), and whether it
is paused.`,
		Example: `  jobq schedule list
  jobq schedule list --json | jq -r '.[] | select(.consecutive_failures > 0) | .name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleList(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array of schedules")
	return cmd
}

func runScheduleList(ctx context.Context, opts *ScheduleListOptions) error {
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	schedules, err := store.ScheduleList(ctx)
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	now := opts.Now()
	if opts.JSON {
		out := make([]scheduleJSON, len(schedules))
		for i, sc := range schedules {
			out[i] = newScheduleJSON(sc, now)
		}
		return writeJSON(opts.IO.Out, out)
	}
	term := opts.IO.IsTerminal
	rows := make([][]string, len(schedules))
	for i, sc := range schedules {
		// When it fires: the tick plus its jitter (the same without one).
		next := formatTime(sc.DueAt, now, term)
		if sc.Paused {
			next = "-"
		}
		var lastRun time.Time
		if sc.LastJob != nil {
			lastRun = sc.LastJob.CreatedAt
		}
		rows[i] = []string{
			sc.Name, scheduleExpr(sc), next, formatTime(lastRun, now, term), lastJobText(sc, now),
			formatTime(sc.LastSuccess, now, term), strconv.Itoa(sc.Failures), scheduleState(sc),
			sc.Job.Command,
		}
	}
	return writeTable(opts.IO.Out, []string{"NAME", "SCHEDULE", "NEXT", "LAST RUN", "LAST JOB", "LAST SUCCESS", "FAILS", "STATE", "COMMAND"}, rows)
}

// scheduleExpr is the expression and the zone it is read in.
func scheduleExpr(sc *queue.Schedule) string {
	zone := sc.Zone
	if zone == "" {
		zone = "local"
	}
	return sc.Expr + " (" + zone + ")"
}

func newScheduleShowCmd(f *Factory) *cobra.Command {
	opts := &ScheduleListOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "show NAME [--json]",
		Short: "Show a schedule: its settings, health and recent jobs",
		Long: `Show a schedule: its expression and zone, overlap policy and jitter, the
job it enqueues (command, queue, attempts, backoff...), when it fires next,
its health (the state of its last job, when it last succeeded, how many of
its runs in a row failed), and its ten most recent jobs.`,
		Example: `  jobq schedule show backup
  jobq schedule show backup --json | jq '.jobs[0]'`,
		Args: scheduleNameArg(&opts.Name),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the schedule as a JSON object with its recent jobs")
	return cmd
}

func runScheduleShow(ctx context.Context, opts *ScheduleListOptions) error {
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	sc, err := store.ScheduleGet(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", opts.Name, err)
	}
	now := opts.Now()
	filter := queue.JobFilter{ScheduleID: sc.ID, Limit: recentJobs, Now: now}
	jobs, err := store.JobList(ctx, filter)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", opts.Name, err)
	}
	if opts.JSON {
		out := scheduleJobsJSON{scheduleJSON: newScheduleJSON(sc, now), Jobs: make([]jobJSON, len(jobs))}
		for i, j := range jobs {
			out.Jobs[i] = newJobJSON(j, now)
		}
		return writeJSON(opts.IO.Out, out)
	}
	term := opts.IO.IsTerminal
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	j := sc.Job
	field("Name", sc.Name)
	field("Description", sc.Description)
	field("Schedule", scheduleExpr(sc))
	field("State", scheduleState(sc))
	field("Overlap", string(sc.Overlap))
	if sc.Jitter > 0 {
		field("Jitter", "up to "+formatDuration(sc.Jitter))
	}
	if !sc.Paused {
		next := formatTick(sc.NextAt, sc.Zone)
		if sc.DueAt.After(sc.NextAt) {
			next += ", fires " + formatTick(sc.DueAt, sc.Zone) + " (jitter)"
		}
		field("Next run", next)
	}
	field("Last job", lastJobText(sc, now))
	field("Last success", formatTime(sc.LastSuccess, now, term))
	field("Failures in a row", strconv.Itoa(sc.Failures))
	field("Queue", j.Queue)
	field("Command", j.Command)
	field("Argv", queue.QuoteArgv(j.Argv))
	field("Directory", j.Dir)
	field("Environment", strings.Join(j.Env, " "))
	field("Priority", strconv.Itoa(j.Priority))
	field("Max attempts", strconv.Itoa(j.MaxAttempts))
	if j.Timeout > 0 {
		field("Timeout", formatDuration(j.Timeout))
	}
	field("Backoff", fmt.Sprintf("%s, at most %s", formatDuration(j.Backoff), formatDuration(j.MaxBackoff)))
	field("Permanent exit", queue.FormatExitCodes(j.PermanentExit))
	field("Created", formatTime(sc.CreatedAt, now, term))
	tw.Flush()
	if len(jobs) > 0 {
		fmt.Fprintf(&b, "\nRecent jobs (jobq list --schedule %s for all):\n", sc.Name)
		// Cut to the terminal, as jobq list is: b is headed for opts.IO.Out.
		if err := writeJobTable(IOStreams{Out: sizedWriter{&b, terminalWidth(opts.IO.Out)}, IsTerminal: term}, jobs, filter); err != nil {
			return err
		}
	}
	_, err = opts.IO.Out.Write(b.Bytes())
	return err
}
