// Package cmd is jobq's command line: one file per command, each a thin
// layer that parses flags, calls internal/queue through a Store and prints.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/queue"
)

// Exit statuses of SPEC.md.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitBusy    = 75
)

// UsageError is invalid usage or input: exit status 2, nothing written.
type UsageError struct {
	Err    error
	NoHelp bool // the error is not about the command line: no pointer to --help
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitError ends jobq with Code, printing Err when it is not nil.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Main runs jobq with the process's arguments and returns its exit status.
//
// SIGINT and SIGTERM cancel the context of a command that stops on its
// own terms (commands' stops column). Any other command keeps the
// signals' default, and ends at once as any program does: what it had
// not committed, SQLite rolls back. That is also cheaper: os/signal's
// first Notify starts a thread locked to its goroutine, and a one-row
// enqueue then runs about 150,000 instructions, 30 page faults and one
// thread fewer (docs/performance.md, issue 10).
func Main() int {
	args := os.Args[1:]
	ctx := context.Background()
	if i := commandIndex(args); i < 0 || commands[i].stops {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	f := NewFactory()
	return Run(ctx, f, args)
}

// Run runs jobq with args and the dependencies in f, and returns the exit
// status after writing any error to f.IO.ErrOut.
func Run(ctx context.Context, f *Factory, args []string) (code int) {
	defer func() {
		// A bug must still end in one line, not a stack trace.
		if r := recover(); r != nil {
			fmt.Fprintf(f.IO.ErrOut, "jobq: internal error: %v (please report it)\n", r)
			code = exitFailure
		}
	}()
	root := newRootCmdFor(f, args)
	if isCompletionRequest(args) {
		registerCompletions(root, f)
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !f.reachedRun {
		// Cobra refused the command line before any command ran.
		err = &UsageError{Err: suggestionsInline(err)}
	}
	return reportError(f.IO.ErrOut, cmd, err)
}

// reportError writes err as one line and returns its exit status.
func reportError(w io.Writer, cmd *cobra.Command, err error) int {
	var usage *UsageError
	var exit *ExitError
	switch {
	case errors.As(err, &exit):
		if exit.Err != nil {
			fmt.Fprintf(w, "jobq: %v\n", exit.Err)
		}
		return exit.Code
	case errors.As(err, &usage) && usage.NoHelp:
		fmt.Fprintf(w, "jobq: %v\n", err)
		return exitUsage
	case errors.As(err, &usage):
		fmt.Fprintf(w, "jobq: %v (see '%s --help')\n", err, cmd.CommandPath())
		return exitUsage
	case errors.Is(err, queue.ErrBusy):
		fmt.Fprintf(w, "jobq: %v; nothing was written, try again\n", err)
		return exitBusy
	default:
		fmt.Fprintf(w, "jobq: %v\n", err)
		return exitFailure
	}
}

// suggestionsInline puts cobra's "Did you mean this?" lines for an
// unknown command into its one line: `unknown command "cpy" for "jobq"
// (did you mean copy?)`.
func suggestionsInline(err error) error {
	before, after, ok := strings.Cut(err.Error(), "\n\nDid you mean this?\n")
	if !ok {
		return err
	}
	return fmt.Errorf("%s (did you mean %s?)", before, strings.Join(strings.Fields(after), " or "))
}

// commands are jobq's top-level commands, each with its group in jobq
// --help, the function that builds it, and whether it stops on its own
// terms on SIGINT or SIGTERM: it reports what it did and how it ended,
// stops its jobs, or follows until interrupted and exits 0 (docs/cli.md).
// A command without stops does one short thing and ends; a signal ends it
// at once (see Main).
//
// To add a command: write newXCmd(f *Factory) *cobra.Command in its own
// file (x.go), and add one line here. That is the only place a top-level
// command is registered: NewRootCmd builds every command from this list,
// and a process that runs one command builds that one alone.
var commands = []struct {
	name, group string
	build       func(*Factory) *cobra.Command
	stops       bool
}{
	{"enqueue", "add", newEnqueueCmd, false},
	{"list", "look", newListCmd, false},
	{"show", "look", newShowCmd, false},
	{"logs", "look", newLogsCmd, true},
	{"drain", "run", newDrainCmd, true},
	{"work", "run", newWorkCmd, true},
	{"wait", "look", newWaitCmd, true},
	{"cancel", "fix", newCancelCmd, false},
	{"retry", "fix", newRetryCmd, true},
	{"purge", "fix", newPurgeCmd, true},
	{"stats", "look", newStatsCmd, false},
	{"metrics", "look", newMetricsCmd, true},
	{"events", "look", newEventsCmd, true},
	{"progress", "run", newProgressCmd, false},
	{"queue", "setup", newQueueCmd, false},
	{"schedule", "add", newScheduleCmd, false},
	{"copy", "setup", newCopyCmd, true},
	{"version", "setup", newVersionCmd, false},
}

// Command groups of jobq --help, as gh groups its own.
var commandGroups = []*cobra.Group{
	{ID: "add", Title: "Adding jobs:"},
	{ID: "look", Title: "Looking at jobs:"},
	{ID: "fix", Title: "Fixing jobs:"},
	{ID: "run", Title: "Running jobs:"},
	{ID: "setup", Title: "Setup:"},
}

// NewRootCmd builds the whole command tree: help, completion scripts and
// the generated documentation need all of it.
func NewRootCmd(f *Factory) *cobra.Command {
	return newRootCmd(f, -1)
}

// newRootCmdFor builds the tree that running args needs. A process runs
// one command, and building the 30-odd others, each with its flags, was
// 7% of the instructions of a `jobq enqueue` and 14% of a `jobq version`
// (docs/performance.md, issue 10): when args name a top-level command,
// the root gets that one alone. Anything else (no command, help, completion, a flag it does not
// know before the command, a name it does not know, for cobra to suggest
// one) gets the whole tree, so that jobq behaves as it always did.
func newRootCmdFor(f *Factory, args []string) *cobra.Command {
	return newRootCmd(f, commandIndex(args))
}

// commandIndex is the index in commands of the top-level command args
// run, or -1 when that is not clear from args alone. Only the root's own
// flags may come before the command's name.
func commandIndex(args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--db" || a == "--config":
			i++ // its value
			continue
		case strings.HasPrefix(a, "--db=") || strings.HasPrefix(a, "--config="):
			continue
		case strings.HasPrefix(a, "-"):
			return -1 // --help, -h, --, or a typo: the whole tree
		}
		for j, c := range commands {
			if c.name == a {
				return j
			}
		}
		return -1
	}
	return -1
}

// newRootCmd builds the root with commands[only], or with every command
// when only is -1.
func newRootCmd(f *Factory, only int) *cobra.Command {
	root := &cobra.Command{
		Use:   "jobq",
		Short: "A job queue for shell scripts, cron and systemd, kept in one SQLite file",
		Long: `jobq keeps job queues in one SQLite file. Scripts and cron lines call
'jobq enqueue'; 'jobq drain' or 'jobq work' runs the jobs (shell commands)
with timeouts, retries and exponential backoff; jobs that fail every attempt
land on the dead-letter list ('jobq list --state dead').`,
		Example: `  jobq enqueue 'backup.sh /srv'
  jobq enqueue -q mail --max-attempts 5 -- sendmail -t
  jobq list --state dead
  jobq drain -c 4`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			f.reachedRun = true
			f.flags = cmd.Flags()
			f.command = commandName(cmd)
		},
	}
	root.PersistentFlags().String("db", "", "database file, or a postgres:// URL (default: $JOBQ_DB, config key db, or $XDG_STATE_HOME/jobq/jobq.db)")
	config.BindFlag(root.PersistentFlags().Lookup("db"), "db")
	root.PersistentFlags().StringVar(&f.configFlag, "config", "", "config file (default: $JOBQ_CONFIG, $XDG_CONFIG_HOME/jobq/config.yaml, /etc/jobq/config.yaml)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Err: flagError(err)} })
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetIn(f.IO.In)

	root.AddGroup(commandGroups...)
	for i, c := range commands {
		if only >= 0 && i != only {
			continue
		}
		sub := c.build(f)
		sub.GroupID = c.group
		root.AddCommand(sub)
	}
	if only < 0 {
		root.SetHelpCommandGroupID("setup")
		root.SetCompletionCommandGroupID("setup") // before it is made
		addCompletionCmd(root)
	} else {
		// Cobra would add its completion command, five more, at every
		// run; a run of another command never reaches it.
		root.CompletionOptions.DisableDefaultCmd = true
	}
	return root
}
