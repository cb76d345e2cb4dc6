package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// ScheduleImportOptions are schedule import's dependencies and flags.
type ScheduleImportOptions struct {
	IO        IOStreams
	Config    func() (*config.Config, error)
	OpenStore func(context.Context) (storeNotifier, error)
	DBPath    func() (string, error) // --dry-run reads the names in use there
	Now       func() time.Time
	Getwd     func() (string, error)
	LookupEnv func(string) (string, bool)
	Rand      func() float64
	// IsUser and LookPath tell a system crontab's user field from a
	// command: "root /usr/bin/x" is no command.
	IsUser   func(string) bool
	LookPath func(string) (string, error)

	File   string // "-" or empty: standard input
	DryRun bool
	System bool
	Prefix string
	Job    jobFlags
}

func newScheduleImportCmd(f *Factory) *cobra.Command {
	opts := &ScheduleImportOptions{IO: f.IO, Config: f.Config, OpenStore: f.OpenStore, DBPath: f.DBPath, Now: f.Now,
		Getwd: f.Getwd, LookupEnv: f.LookupEnv, Rand: rand.Float64, IsUser: isUser, LookPath: exec.LookPath}
	cmd := &cobra.Command{
		Use:   "import [FILE|-] [--dry-run] [--prefix P] [enqueue flags]",
		Short: "Make a schedule of every line of a crontab, all or none",
		Long: `Read a crontab (as 'crontab -l' prints it; standard input without FILE or
with -) and add a schedule for each of its lines, all or none: one bad line
(@reboot, an expression jobq cannot read, a % that cron would turn into
standard input) and nothing is added.

As cron does, VAR=value lines set the environment of the lines below them,
CRON_TZ (or TZ) their time zone, SHELL the shell that runs them and HOME
the directory they run in; without a HOME line, jobs run in $HOME. --dir
overrides both. MAILTO is explained: jobq keeps
a job's output rather than mailing it. The comment right above a line
(its last paragraph) becomes its description, and its first line the
schedule's name; otherwise the name is the command's (sync-photos). A
commented-out line, and crontab -e's template above it, name nothing. --prefix P puts P
before every name. The enqueue flags (-q, --timeout, --max-attempts ...)
apply to every job. --dry-run prints what it would add and adds nothing;
a name in use in the database fails it (exit 1) as it would the import.

A system crontab (/etc/crontab, /etc/cron.d/*) has a user field after the
schedule: --system reads it so, and drops the user (a worker runs every job
as its own user). A line whose command starts with a user's name that is
no command ("root /usr/bin/x") is refused without --system.

Then remove the lines from the crontab (crontab -e): see docs/schedules.md.`,
		Example: `  crontab -l | jobq schedule import --dry-run
  crontab -l | jobq schedule import --prefix cron- -q cron --timeout 1h
  jobq schedule import --system /etc/cron.d/backup`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("schedule import takes one FILE (or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			return runScheduleImport(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the schedules it would add; add nothing")
	fl.StringVar(&opts.Prefix, "prefix", "", "put `P` before every schedule's name")
	fl.BoolVar(&opts.System, "system", false, "read a system crontab (/etc/crontab, /etc/cron.d): a user field after the schedule")
	opts.Job.register(fl)
	return cmd
}

func runScheduleImport(ctx context.Context, opts *ScheduleImportOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	in, name := opts.IO.In, "standard input"
	if opts.File != "" && opts.File != "-" {
		f, err := os.Open(opts.File)
		if err != nil {
			return &UsageError{Err: err, NoHelp: true}
		}
		defer f.Close()
		in, name = f, opts.File
	}
	parse := queue.ParseCrontab
	if opts.System {
		parse = queue.ParseSystemCrontab
	}
	tab, err := parse(in)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("%s: %w", name, err), NoHelp: true}
	}
	if err := checkUserFields(tab, opts); err != nil {
		return &UsageError{Err: fmt.Errorf("%s %w", name, err), NoHelp: true}
	}
	// Cron runs a line in the user's home directory.
	getwd := opts.Getwd
	if home, ok := opts.LookupEnv("HOME"); ok && home != "" && opts.Job.Dir == "" {
		getwd = func() (string, error) { return home, nil }
	}
	def, err := opts.Job.params(cfg, getwd, opts.LookupEnv)
	if err != nil {
		return &UsageError{Err: err}
	}
	now := opts.Now()
	schedules := make([]queue.Schedule, len(tab.Entries))
	for i, e := range tab.Entries {
		job := def
		job.Command, job.Argv = e.Command, e.Argv
		if e.Home != "" && opts.Job.Dir == "" {
			job.Dir = e.Home // cron runs a line in the crontab's HOME
		}
		for _, kv := range e.Env {
			job.Env = queue.SetEnv(job.Env, kv)
		}
		sc := queue.Schedule{Name: opts.Prefix + e.Name, Expr: e.Expr, Zone: e.Zone, Overlap: queue.OverlapSkip,
			Description: e.Description, Job: job}
		if err := sc.Validate(); err != nil {
			return &UsageError{Err: fmt.Errorf("%s line %d: %w", name, e.Line, err), NoHelp: true}
		}
		if err := sc.Plan(now, opts.Rand()); err != nil {
			return &UsageError{Err: fmt.Errorf("%s line %d: %w", name, e.Line, err), NoHelp: true}
		}
		schedules[i] = sc
	}
	for _, note := range tab.Notes {
		fmt.Fprintf(opts.IO.ErrOut, "jobq: %s %s\n", name, note)
	}
	if len(schedules) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "jobq: %s has no schedule lines; nothing to add\n", name)
		return nil
	}
	if opts.DryRun {
		if err := writeImportPlan(opts.IO.Out, schedules); err != nil {
			return err
		}
		return checkNamesFree(ctx, opts.DBPath, schedules)
	}
	return addSchedules(ctx, opts.OpenStore, opts.IO, now, false, importInUse, schedules...)
}

// writeImportPlan prints the schedules an import would add.
func writeImportPlan(w io.Writer, schedules []queue.Schedule) error {
	rows := make([][]string, len(schedules))
	for i, sc := range schedules {
		rows[i] = []string{sc.Name, scheduleExpr(&sc), formatTick(sc.NextAt, sc.Zone), sc.Job.Command, sc.Description}
	}
	return writeTable(w, []string{"NAME", "SCHEDULE", "NEXT RUN", "COMMAND", "DESCRIPTION"}, rows)
}

// importInUse is what to do about a name in use: import has no --replace.
const importInUse = "--prefix P gives every name another start; jobq schedule rm NAME frees one"

// checkNamesFree fails, as the import itself would (exit 1), when a
// schedule's name is in use in the database. The database is opened
// read-only, and only if it exists: a dry run creates nothing.
func checkNamesFree(ctx context.Context, dbPath func() (string, error), schedules []queue.Schedule) error {
	path, err := dbPath()
	if err != nil {
		return err
	}
	if postgres.IsURL(path) {
		names, err := postgres.ScheduleNames(ctx, path, postgres.Options{})
		if err != nil {
			return fmt.Errorf("read schedule names: %w", err)
		}
		return namesFree(names, schedules)
	}
	c, err := sqlite.OpenCompleter(path)
	if errors.Is(err, sqlite.ErrNoDatabase) {
		return nil // the import would create it: every name is free
	}
	if err != nil {
		return fmt.Errorf("read schedule names: %w", err)
	}
	defer c.Close()
	names, err := c.ScheduleNames(ctx)
	if err != nil {
		return fmt.Errorf("read schedule names: %w", err)
	}
	return namesFree(names, schedules)
}

// namesFree fails when a schedule's name is among names.
func namesFree(names []string, schedules []queue.Schedule) error {
	for _, sc := range schedules {
		if slices.Contains(names, sc.Name) {
			return existsError(fmt.Errorf("schedule %s: %w", sc.Name, queue.ErrExists), importInUse)
		}
	}
	return nil
}

// checkUserFields refuses a system crontab read as a user's, where each
// command would start with the user ("root /usr/bin/x"), and notes the
// users of one read with --system: jobq does not run a job as them.
func checkUserFields(tab *queue.Crontab, opts *ScheduleImportOptions) error {
	if opts.System {
		seen := map[string]bool{}
		for _, e := range tab.Entries {
			if !seen[e.User] {
				seen[e.User] = true
				tab.Notes = append(tab.Notes, fmt.Sprintf("line %d: user %s: dropped; a worker runs every job as its own user, so import into the database of a worker that runs as %s", e.Line, e.User, e.User))
			}
		}
		return nil
	}
	for _, e := range tab.Entries {
		f := strings.Fields(e.Command)
		if len(f) < 2 || !opts.IsUser(f[0]) {
			continue
		}
		if _, err := opts.LookPath(f[0]); err == nil {
			continue // a command that is also a user's name (postgres)
		}
		return fmt.Errorf("line %d: %q is a user, not a command: this looks like a system crontab (/etc/crontab, /etc/cron.d), whose lines have a user field; give --system to read it so", e.Line, f[0])
	}
	return nil
}

// isUser says whether name is a user of this system.
func isUser(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}
