package cmd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/queue"
)

// ScheduleAddOptions are schedule add's dependencies and flags.
type ScheduleAddOptions struct {
	IO        IOStreams
	Config    func() (*config.Config, error)
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time
	Getwd     func() (string, error)
	LookupEnv func(string) (string, bool)
	Rand      func() float64 // in [0, 1): the first tick's jitter

	Name    string
	Cron    string
	Zone    string
	Overlap string
	Jitter  durationFlag
	Replace bool
	Job     jobFlags
}

func newScheduleAddCmd(f *Factory) *cobra.Command {
	opts := &ScheduleAddOptions{IO: f.IO, Config: f.Config, OpenStore: f.OpenStore, Now: f.Now,
		Getwd: f.Getwd, LookupEnv: f.LookupEnv, Rand: rand.Float64}
	cmd := &cobra.Command{
		Use:   "add NAME --cron EXPR [--tz ZONE] [--overlap skip|allow|replace] [--jitter D] [--replace] [enqueue flags] COMMAND | -- PROGRAM ARG...",
		Short: "Add a schedule: a job enqueued at every tick of a cron expression",
		Long: `Add a schedule: at every tick of EXPR, every 'jobq work' and 'jobq drain'
enqueues its job, once however many run. EXPR is five fields (minute hour
day-of-month month day-of-week), @hourly, @daily, @weekly, @monthly,
@yearly or @every DURATION. --tz takes an IANA zone (default: the local
time of the worker that fires it).

--overlap skip (the default) enqueues nothing for a tick while the
schedule's previous job has not ended, and logs that in 'jobq events';
allow enqueues all the same; replace cancels the previous job first.
--jitter D delays each tick by a random time up to D, shorter than the
time between two ticks (docs/schedules.md). After downtime, one
job stands for the ticks missed. The enqueue flags (-q, -p, --timeout,
--max-attempts, --backoff, --permanent-exit, --env, --dir ...) apply to
every job it makes. A name in use is an error unless --replace is given.`,
		Example: `  jobq schedule add backup --cron '30 2 * * *' --tz Europe/Berlin 'pg_dump app | gzip > /backup/app.sql.gz'
  jobq schedule add sync --cron '@every 15m' --jitter 1m --timeout 10m -- /usr/local/bin/sync-photos
  jobq schedule add report --cron '0 8 * * mon-fri' -q mail --max-attempts 5 --replace 'send-report --daily'
  jobq schedule next backup -n 5`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || cmd.ArgsLenAtDash() == 0 {
				return usageErrorf("missing NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			// NAME comes before --: the command's arguments start one later.
			dash := cmd.ArgsLenAtDash()
			if dash > 0 {
				dash--
			}
			if err := opts.Job.setArgs(args[1:], dash); err != nil {
				return err
			}
			return runScheduleAdd(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Cron, "cron", "", "cron `expression`: five fields, @hourly .. @yearly, or '@every DURATION'")
	fl.StringVar(&opts.Zone, "tz", "", "IANA time `zone` the expression is read in (default: local time)")
	fl.StringVar(&opts.Overlap, "overlap", string(queue.OverlapSkip), "while the previous job runs: skip, allow or replace")
	fl.Var(&opts.Jitter, "jitter", "delay each tick at random by up to this long")
	fl.BoolVar(&opts.Replace, "replace", false, "change the schedule of this name if there is one")
	opts.Job.register(fl)
	return cmd
}

func runScheduleAdd(ctx context.Context, opts *ScheduleAddOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if opts.Cron == "" {
		return usageErrorf("missing --cron EXPR")
	}
	job, err := opts.Job.params(cfg, opts.Getwd, opts.LookupEnv)
	if err != nil {
		return &UsageError{Err: err}
	}
	if err := opts.Job.setCommand(&job); err != nil {
		return err
	}
	sc := queue.Schedule{Name: opts.Name, Expr: opts.Cron, Zone: opts.Zone,
		Overlap: queue.Overlap(opts.Overlap), Jitter: opts.Jitter.D, Job: job}
	now := opts.Now()
	if err := sc.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	if err := sc.Plan(now, opts.Rand()); err != nil {
		return &UsageError{Err: err}
	}
	return addSchedules(ctx, opts.OpenStore, opts.IO, now, opts.Replace, "--replace changes it", sc)
}

// addSchedules adds schedules all or nothing and says when each fires
// first.
func addSchedules(ctx context.Context, open func(context.Context) (storeNotifier, error), io IOStreams, now time.Time, replace bool, inUse string, scs ...queue.Schedule) error {
	params := make([]queue.ScheduleAddParams, len(scs))
	for i, sc := range scs {
		params[i] = queue.ScheduleAddParams{Schedule: sc, Replace: replace, Now: now}
	}
	store, err := open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.ScheduleAdd(ctx, params); err != nil {
		if errors.Is(err, queue.ErrExists) {
			return existsError(err, inUse)
		}
		return fmt.Errorf("add schedule: %w", err)
	}
	for _, sc := range scs {
		fmt.Fprintf(io.ErrOut, "jobq: schedule %s: next run %s\n", sc.Name, formatTick(sc.NextAt, sc.Zone))
	}
	return nil
}

// existsError is the error of a schedule name in use (exit 1), the same
// for add, import and import --dry-run, with what to do about it.
func existsError(err error, hint string) error {
	return fmt.Errorf("%w; nothing was added (%s)", err, hint)
}

// formatTick is a tick in its schedule's zone, with the offset, so that
// daylight saving shows.
func formatTick(t time.Time, zone string) string {
	if t.IsZero() {
		return "-"
	}
	loc := time.Local
	if zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	return t.In(loc).Format("2006-01-02 15:04:05 -07:00 MST")
}
