// Shell completion: cobra's `jobq completion bash|zsh|fish|powershell`,
// and dynamic candidates read from the database: job IDs, queue, state
// and schedule names.

package cmd

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// completedJobs is how many job IDs completion offers, newest first.
const completedJobs = 50

// Completion candidates by command and flag. The tree is walked once, so
// that a command added later (schedule ...) gets the completion of the
// flags it shares (-q, --state) without wiring of its own.
var (
	// Commands whose arguments are job IDs.
	idCompleted = map[string]bool{"jobq show": true, "jobq logs": true, "jobq retry": true, "jobq cancel": true, "jobq wait": true}
	// Commands whose argument is a queue name.
	queueCompleted = map[string]bool{"jobq queue pause": true, "jobq queue resume": true, "jobq queue limit": true}
	// Commands whose argument is a schedule's name (the schedule
	// commands, once they exist).
	scheduleCompleted = map[string]bool{"jobq schedule show": true, "jobq schedule next": true, "jobq schedule rm": true,
		"jobq schedule pause": true, "jobq schedule resume": true, "jobq schedule run": true}
)

// addCompletionCmd enables `jobq completion SHELL`, with jobq's help.
func addCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	describeCompletionCmd(root)
}

// isCompletionRequest reports whether args ask for completion candidates:
// cobra's hidden __complete command, which the completion scripts run at
// every Tab.
func isCompletionRequest(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// registerCompletions gives every command the dynamic completion of its
// arguments and flags. Only a completion request needs them, so only it
// pays for the walk (every other jobq process, an enqueue from cron
// included, builds the tree without it).
func registerCompletions(root *cobra.Command, f *Factory) {
	flagCompletions := map[string]cobra.CompletionFunc{
		"queue":    completeList(completeQueues(f)),
		"state":    completeList(completeStates),
		"job":      completeJobIDs(f),
		"after":    completeList(completeJobIDs(f)),
		"schedule": completeScheduleNames(f),
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := c.CommandPath()
		switch {
		case idCompleted[path]:
			c.ValidArgsFunction = completeJobIDs(f)
		case queueCompleted[path]:
			c.ValidArgsFunction = firstArg(completeQueues(f))
		case scheduleCompleted[path]:
			c.ValidArgsFunction = firstArg(completeScheduleNames(f))
		}
		for name, fn := range flagCompletions {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completionExamples are where each shell looks for completions, for the
// user who does not run make install (which puts them there).
var completionExamples = map[string]string{
	"bash": `  source <(jobq completion bash)     # this shell only
  mkdir -p ~/.local/share/bash-completion/completions
  jobq completion bash > ~/.local/share/bash-completion/completions/jobq`,
	"zsh": `  mkdir -p ~/.zfunc && jobq completion zsh > ~/.zfunc/_jobq
  # and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath)`,
	"fish":       `  jobq completion fish > ~/.config/fish/completions/jobq.fish`,
	"powershell": `  jobq completion powershell | Out-String | Invoke-Expression`,
}

// describeCompletionCmd gives cobra's completion command jobq's help.
func describeCompletionCmd(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Short = "Print the shell completion script for bash, zsh, fish or powershell"
		c.Long = `Print the script that makes the shell complete jobq's commands, flags and
arguments. Beyond names and flags, it completes job IDs (the newest 50, each
described by its state and command), queue names, state names and schedule
names, read from the database (--db, JOBQ_DB, ...) without writing to it;
when there is no database yet, it offers none and creates none.

'make install' installs the scripts where bash, zsh and fish find them;
the scripts are also in the source tree's completions/ folder.`
		c.Example = `  source <(jobq completion bash)
  jobq completion zsh > ~/.zfunc/_jobq
  jobq completion fish > ~/.config/fish/completions/jobq.fish`
		for _, sub := range c.Commands() {
			sub.Example = completionExamples[sub.Name()]
		}
	}
}

// completer opens the database read-only for a completion; nil when there
// is none (nothing is created) or it cannot be read.
func (f *Factory) completer(cmd *cobra.Command) *sqlite.Completer {
	f.flags = cmd.Flags() // --db on the line being completed counts
	path, err := f.DBPath()
	if err != nil || postgres.IsURL(path) {
		// PostgreSQL: nothing offered. A Tab must not wait for a server,
		// nor migrate a database it reaches.
		return nil
	}
	c, err := sqlite.OpenCompleter(path)
	if err != nil {
		return nil
	}
	return c
}

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, 2*time.Second)
}

// completeJobIDs offers the newest jobs' IDs, each described by its state
// and command.
func completeJobIDs(f *Factory) cobra.CompletionFunc {
	return fromDatabase(f, func(ctx context.Context, c *sqlite.Completer, args []string, toComplete string) ([]cobra.Completion, error) {
		jobs, err := c.RecentJobs(ctx, completedJobs)
		var out []cobra.Completion
		for _, j := range jobs {
			id := strconv.FormatInt(j.ID, 10)
			if strings.HasPrefix(id, toComplete) && !contains(args, id) {
				out = append(out, cobra.CompletionWithDesc(id, j.State+": "+oneLineCell(j.Command)))
			}
		}
		return out, err
	}, cobra.ShellCompDirectiveKeepOrder)
}

// completeQueues offers the names of the queues that have jobs or settings.
func completeQueues(f *Factory) cobra.CompletionFunc {
	return names(f, (*sqlite.Completer).Queues)
}

// completeScheduleNames offers the schedules' names: the hook for the
// schedule commands and list --schedule.
func completeScheduleNames(f *Factory) cobra.CompletionFunc {
	return names(f, (*sqlite.Completer).ScheduleNames)
}

// names offers the names read that start with what is typed.
func names(f *Factory, read func(*sqlite.Completer, context.Context) ([]string, error)) cobra.CompletionFunc {
	return fromDatabase(f, func(ctx context.Context, c *sqlite.Completer, _ []string, toComplete string) ([]cobra.Completion, error) {
		all, err := read(c, ctx)
		var out []cobra.Completion
		for _, n := range all {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, err
	}, 0)
}

// fromDatabase completes from the database, opened read-only for the
// call: nothing when there is none or it cannot be read, never a file
// name.
func fromDatabase(f *Factory, offer func(context.Context, *sqlite.Completer, []string, string) ([]cobra.Completion, error), directive cobra.ShellCompDirective) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		directive := directive | cobra.ShellCompDirectiveNoFileComp
		c := f.completer(cmd)
		if c == nil {
			return nil, directive
		}
		defer c.Close()
		ctx, cancel := completionContext(cmd)
		defer cancel()
		out, err := offer(ctx, c, args, toComplete)
		if err != nil {
			return nil, directive
		}
		return out, directive
	}
}

// completeStates offers the state names.
func completeStates(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, s := range queue.States {
		if strings.HasPrefix(string(s), toComplete) {
			out = append(out, string(s))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeList completes the last item of a comma-separated list
// (--state dead,canc), offering whole lists, as the shell replaces the
// whole word.
func completeList(item cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		done, last := "", toComplete
		if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
			done, last = toComplete[:i+1], toComplete[i+1:]
		}
		items, dir := item(cmd, args, last)
		out := make([]cobra.Completion, len(items))
		for i, c := range items {
			out[i] = done + c
		}
		if done != "" {
			dir |= cobra.ShellCompDirectiveNoSpace
		}
		return out, dir
	}
}

// firstArg completes the first argument only.
func firstArg(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
