package cmd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/queue"
)

// ScheduleOptions are the dependencies and flags of the schedule
// subcommands that name one schedule (rm, pause, resume, run, next).
type ScheduleOptions struct {
	IO        IOStreams
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time
	Rand      func() float64 // in [0, 1): a resumed schedule's jitter

	Name string
	// next: how many ticks, or an expression to try instead of NAME.
	Count int
	Cron  string
	Zone  string
}

func newScheduleCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule add|list|show|next|rm|pause|resume|run|import",
		Short: "Recurring jobs: enqueue a job at every tick of a cron expression",
		Long: `Schedules enqueue a job at every tick of a cron expression. Every running
'jobq work', and every 'jobq drain', fires the ticks that are due; each
tick is enqueued once however many run. See docs/schedules.md.`,
		Example: `  jobq schedule add backup --cron '30 2 * * *' 'pg_dump app | gzip > /backup/app.sql.gz'
  jobq schedule list
  jobq schedule next backup -n 5
  jobq schedule run backup
  crontab -l | jobq schedule import --dry-run -`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("missing command: add, list, show, next, rm, pause, resume, run or import")
			}
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		},
	}
	newOpts := func() *ScheduleOptions {
		return &ScheduleOptions{IO: f.IO, OpenStore: f.OpenStore, Now: f.Now, Rand: rand.Float64}
	}
	// named is a subcommand on one schedule, run with the store open; its
	// errors name the schedule ("schedule backup: not found", exit 1).
	named := func(use, short, long, example string, run func(context.Context, *ScheduleOptions, queue.Store) error) *cobra.Command {
		opts := newOpts()
		return &cobra.Command{
			Use: use + " NAME", Short: short, Long: long, Example: example, Args: scheduleNameArg(&opts.Name),
			RunE: func(cmd *cobra.Command, args []string) error {
				store, err := opts.OpenStore(cmd.Context())
				if err != nil {
					return err
				}
				defer store.Close()
				if err := run(cmd.Context(), opts, store); err != nil {
					return fmt.Errorf("schedule %s: %w", opts.Name, err)
				}
				return nil
			},
		}
	}
	cmd.AddCommand(
		newScheduleAddCmd(f),
		newScheduleListCmd(f),
		newScheduleShowCmd(f),
		newScheduleNextCmd(newOpts()),
		named("rm", "Delete a schedule (its jobs stay)",
			`Delete a schedule: it fires no more. The jobs it made stay, with their
history, until purged or past their retention; one still running runs on.`,
			"  jobq schedule rm backup\n  jobq schedule list --json | jq -r '.[] | select(.paused) | .name' | xargs -n1 jobq schedule rm", runScheduleRm),
		named("pause", "Stop a schedule from firing",
			`Stop a schedule from firing until it is resumed. Its jobs already enqueued
or running are left alone; the ticks that pass while it is paused are not
caught up later.`,
			"  jobq schedule pause backup\n  jobq schedule pause backup && jobq cancel $(jobq list --schedule backup --state running --ids)", runSchedulePause),
		named("resume", "Fire a paused schedule again, from its next tick",
			`Fire a paused schedule again. It fires next at the first tick after now
(plus its jitter), and says when on stderr: the ticks missed while it was
paused are not caught up.`,
			"  jobq schedule resume backup", runScheduleResume),
		named("run", "Enqueue a schedule's job now; print its ID",
			`Enqueue the schedule's job now, outside its ticks and its overlap policy,
and print the new job's ID: to try a schedule, or run it once more by hand.
The schedule's own next tick is unchanged.`,
			"  jobq schedule run backup\n  jobq wait $(jobq schedule run backup)", runScheduleRun),
		newScheduleImportCmd(f),
	)
	return cmd
}

// scheduleNameArg takes one schedule name as the only argument, into dst.
func scheduleNameArg(dst *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s takes one schedule name", commandName(cmd))
		}
		if err := queue.ValidateScheduleName(args[0]); err != nil {
			return &UsageError{Err: err}
		}
		*dst = args[0]
		return nil
	}
}

func runScheduleRm(ctx context.Context, opts *ScheduleOptions, store queue.Store) error {
	return store.ScheduleDelete(ctx, opts.Name)
}

func runSchedulePause(ctx context.Context, opts *ScheduleOptions, store queue.Store) error {
	return store.ScheduleSet(ctx, queue.ScheduleSetParams{Name: opts.Name, Paused: true, Now: opts.Now()})
}

// runScheduleResume resumes from the first tick after now: the ticks
// missed while paused are not caught up, as pausing meant not to run.
func runScheduleResume(ctx context.Context, opts *ScheduleOptions, store queue.Store) error {
	sc, err := store.ScheduleGet(ctx, opts.Name)
	if err != nil {
		return err
	}
	now := opts.Now()
	if err := sc.Plan(now, opts.Rand()); err != nil {
		return err
	}
	err = store.ScheduleSet(ctx, queue.ScheduleSetParams{Name: opts.Name, NextAt: sc.NextAt, DueAt: sc.DueAt, Now: now})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "jobq: schedule %s: next run %s\n", sc.Name, formatTick(sc.NextAt, sc.Zone))
	return nil
}

// runScheduleRun enqueues the schedule's job now, outside its ticks and
// its overlap policy, and prints its ID.
func runScheduleRun(ctx context.Context, opts *ScheduleOptions, store queue.Store) error {
	sc, err := store.ScheduleGet(ctx, opts.Name)
	if err != nil {
		return err
	}
	ids, err := store.JobInsert(ctx, queue.Jobs(sc.NewJob(time.Time{}, opts.Now())))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(opts.IO.Out, ids[0])
	return err
}

func newScheduleNextCmd(opts *ScheduleOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "next NAME [-n N] | --cron EXPR [--tz ZONE] [-n N]",
		Short: "Print the next run times of a schedule, or of an expression",
		Long: `Print the next N times a schedule fires (before its jitter), one per line,
in its time zone with the offset, so that daylight saving shows: check an
expression before trusting it, as with systemd-analyze calendar
--iterations. With --cron (and --tz) instead of NAME, an expression not
yet added.`,
		Example: `  jobq schedule next backup
  jobq schedule next --cron '30 2 * * *' --tz America/New_York -n 10`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && opts.Cron == "":
				return scheduleNameArg(&opts.Name)(cmd, args)
			case len(args) == 0 && opts.Cron != "":
				return nil
			}
			return usageErrorf("give a schedule's NAME or --cron EXPR")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleNext(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Count, "iterations", "n", 5, "how many run times")
	cmd.Flags().StringVar(&opts.Cron, "cron", "", "an `expression` to try instead of a schedule")
	cmd.Flags().StringVar(&opts.Zone, "tz", "", "with --cron: the IANA time `zone` (default: local time)")
	return cmd
}

func runScheduleNext(ctx context.Context, opts *ScheduleOptions) error {
	if opts.Count < 1 {
		return usageErrorf("-n must be 1 or more")
	}
	expr, zone := opts.Cron, opts.Zone
	if opts.Name != "" {
		store, err := opts.OpenStore(ctx)
		if err != nil {
			return err
		}
		sc, err := store.ScheduleGet(ctx, opts.Name)
		store.Close()
		if err != nil {
			return fmt.Errorf("schedule %s: %w", opts.Name, err)
		}
		expr, zone = sc.Expr, sc.Zone
	}
	timing, err := queue.ParseTiming(expr, zone)
	if err != nil {
		return &UsageError{Err: err}
	}
	at := opts.Now()
	var b []byte
	for range opts.Count {
		if at = timing.Next(at); at.IsZero() {
			break
		}
		b = append(b, formatTick(at, zone)...)
		b = append(b, '\n')
	}
	_, err = opts.IO.Out.Write(b)
	return err
}

// scheduleState is a schedule's state for a table: active or paused.
func scheduleState(sc *queue.Schedule) string {
	if sc.Paused {
		return "paused"
	}
	return "active"
}

// lastJobText is a schedule's last job for a table: "#12 succeeded".
func lastJobText(sc *queue.Schedule, now time.Time) string {
	if sc.LastJob == nil {
		return "-"
	}
	return "#" + strconv.FormatInt(sc.LastJob.ID, 10) + " " + string(sc.LastJob.StateAt(now))
}
