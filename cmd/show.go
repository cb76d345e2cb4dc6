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

// ShowOptions are show's dependencies and flags.
type ShowOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time

	ID   int64
	JSON bool
}

// outputTailLines is how much of the last attempt's output show prints.
const outputTailLines = 10

func newShowCmd(f *Factory) *cobra.Command {
	opts := &ShowOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a job: its fields, the history of its attempts, the tail of its output",
		Long: `Show everything about one job: its fields (queue, state, command, attempts,
times, the signal or error that ended its last attempt, the progress it
last reported, a cancel asked for), the history of its attempts, numbered
#1, #2, ... over the job's whole life, with worker, start, duration, exit
and error, and the last 10 lines of its last attempt's output ('jobq logs
ID' prints all of it). --json prints one object with a history array.`,
		Example: `  jobq show 42
  jobq show 42 --json | jq '.history[] | {attempt, exit_code, error}'`,
		Args: jobIDArg(&opts.ID),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the job as a JSON object with its history")
	return cmd
}

// getJob fetches a job and its history, saying "job N not found" for a
// missing one.
func getJob(ctx context.Context, store queue.Store, id int64) (*queue.Job, []queue.Attempt, error) {
	job, err := store.JobGet(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("job %d: %w", id, err)
	}
	history, err := store.AttemptList(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("job %d: %w", id, err)
	}
	return job, history, nil
}

func runShow(ctx context.Context, opts *ShowOptions) error {
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	job, history, err := getJob(ctx, store, opts.ID)
	if err != nil {
		return err
	}
	now := opts.Now()
	if opts.JSON {
		out := jobHistoryJSON{jobJSON: newJobJSON(job, now), History: make([]attemptJSON, len(history))}
		for i, a := range history {
			out.History[i] = newAttemptJSON(a)
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
	field("ID", strconv.FormatInt(job.ID, 10))
	if job.Unreadable != "" {
		// Bad data another program wrote: what follows may be wrong.
		field("Cannot be read", job.Unreadable+" (mend its row by SQL, or delete it: jobq purge)")
	}
	field("Queue", job.Queue)
	field("State", string(job.StateAt(now)))
	field("Command", job.Command)
	field("Argv", queue.QuoteArgv(job.Argv))
	field("Directory", job.Dir)
	field("Environment", strings.Join(job.Env, " "))
	field("Priority", strconv.Itoa(job.Priority))
	field("Attempts", fmt.Sprintf("%d of %d", job.Attempts, job.MaxAttempts))
	if job.Timeout > 0 {
		field("Timeout", formatDuration(job.Timeout))
	}
	field("Backoff", fmt.Sprintf("%s, at most %s", formatDuration(job.Backoff), formatDuration(job.MaxBackoff)))
	field("Permanent exit", queue.FormatExitCodes(job.PermanentExit))
	field("Unique key", job.UniqueKey)
	if len(job.DependsOn) > 0 {
		field("After", joinIDs(job.DependsOn))
	}
	if job.ScheduleID != 0 {
		field("Schedule", scheduleOfJob(ctx, store, job))
	}
	field("Created", formatTime(job.CreatedAt, now, term))
	if !job.State.Final() && job.State != queue.StateRunning {
		field("Run at", formatTime(job.RunAt, now, term))
	}
	if !job.StartedAt.IsZero() {
		field("Started", formatTime(job.StartedAt, now, term))
	}
	if !job.FinishedAt.IsZero() {
		field("Finished", formatTime(job.FinishedAt, now, term))
	}
	if job.ExitCode != nil {
		field("Exit code", strconv.Itoa(*job.ExitCode))
	}
	field("Signal", job.Signal)
	field("Last error", job.LastError)
	field("Worker", job.Worker)
	if p := job.Progress; p != nil {
		text := formatPercent(p.Percent)
		if p.Message != "" {
			text += " " + p.Message
		}
		field("Progress", text+" ("+formatTime(p.At, now, term)+")")
	}
	if job.CancelRequested {
		field("Cancel", "asked; its worker is stopping it")
	}
	tw.Flush()

	if len(history) > 0 {
		rows := make([][]string, len(history))
		for i, a := range history {
			rows[i] = []string{
				strconv.Itoa(a.Attempt), a.Worker,
				formatTime(a.StartedAt, now, term), attemptDuration(a, now), attemptExit(a), a.Error,
			}
		}
		b.WriteString("\nHistory:\n")
		if err := writeTable(sizedWriter{&b, terminalWidth(opts.IO.Out)}, []string{"#", "WORKER", "STARTED", "DURATION", "EXIT", "ERROR"}, rows); err != nil {
			return err
		}
		last := history[len(history)-1]
		if len(last.Output) > 0 {
			fmt.Fprintf(&b, "\nOutput of #%d (last %d lines; jobq logs %d for all):\n", last.Attempt, outputTailLines, job.ID)
			b.Write(lastLines(last.Output, outputTailLines))
		}
	}
	_, err = opts.IO.Out.Write(b.Bytes())
	return err
}

func attemptDuration(a queue.Attempt, now time.Time) string {
	end := a.FinishedAt
	if end.IsZero() {
		end = now
	}
	return end.Sub(a.StartedAt).Round(time.Millisecond).String()
}

// attemptExit is how an attempt ended: exit code, signal, or still running.
func attemptExit(a queue.Attempt) string {
	if a.FinishedAt.IsZero() {
		return "running"
	}
	return exitText(a.ExitCode, a.Signal)
}

// lastLines returns the last n lines of out, ending in a newline.
func lastLines(out []byte, n int) []byte {
	out = bytes.TrimRight(out, "\n")
	i := len(out)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(out[:i], '\n')
		if i < 0 {
			i = 0
			break
		}
	}
	if i > 0 {
		i++ // skip the newline itself
	}
	return append(bytes.Clone(out[i:]), '\n')
}

// scheduleOfJob names the schedule that made job and the tick the job
// stands for: "backup, tick 2026-11-29 02:30:00 +01:00 CET".
func scheduleOfJob(ctx context.Context, store queue.Store, job *queue.Job) string {
	name, zone := "#"+strconv.FormatInt(job.ScheduleID, 10)+" (deleted)", ""
	if all, err := store.ScheduleList(ctx); err == nil {
		for _, sc := range all {
			if sc.ID == job.ScheduleID {
				name, zone = sc.Name, sc.Zone
			}
		}
	}
	if job.ScheduleTick.IsZero() {
		return name + ", run by hand (jobq schedule run)"
	}
	return name + ", tick " + formatTick(job.ScheduleTick, zone)
}
