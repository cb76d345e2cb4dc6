// The flags that describe a job, shared by enqueue and schedule add: what
// a job is and how it runs, not when.

package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/queue"
)

// jobFlags are the values of the flags of jobFlags.register.
type jobFlags struct {
	Queue       string
	Priority    int
	MaxAttempts intFlag
	Timeout     durationFlag
	Backoff     durationFlag
	MaxBackoff  durationFlag
	Permanent   stringFlag
	Env         []string
	Dir         string

	Args      []string
	DashFirst bool // -- came before every argument
}

func (f *jobFlags) register(fl *pflag.FlagSet) {
	fl.StringVarP(&f.Queue, "queue", "q", "default", "queue to add the job to")
	fl.IntVarP(&f.Priority, "priority", "p", 0, "higher runs first")
	fl.Var(&f.MaxAttempts, "max-attempts", "attempts before the job is dead (default: config defaults.max_attempts, 3)")
	fl.Var(&f.Timeout, "timeout", "kill an attempt after this long (default: config defaults.timeout, none)")
	fl.Var(&f.Backoff, "backoff", "wait before the first retry, doubled each time (default: config defaults.backoff, 10s)")
	fl.Var(&f.MaxBackoff, "max-backoff", "longest wait between retries (default: config defaults.max_backoff, 1h)")
	fl.Var(&f.Permanent, "permanent-exit", "exit `codes` that mean dead at once, e.g. 3,64-78")
	fl.StringArrayVar(&f.Env, "env", nil, "set K=V in the job's environment, or copy K from this one (repeatable)")
	fl.StringVar(&f.Dir, "dir", "", "working directory (default: the current one)")
	// Given, these win over the config's defaults.* (Factory.Config), which
	// params reads: the flags hold values only for their types, which check
	// a value as it is parsed.
	for flag, key := range map[string]string{
		"max-attempts":   "defaults.max_attempts",
		"timeout":        "defaults.timeout",
		"backoff":        "defaults.backoff",
		"max-backoff":    "defaults.max_backoff",
		"permanent-exit": "defaults.permanent_exit",
	} {
		config.BindFlag(fl.Lookup(flag), key)
	}
}

// setArgs keeps the command's arguments, and dash, the number of them
// before -- (-1: no --): flags go before it, PROGRAM ARG... after.
func (f *jobFlags) setArgs(args []string, dash int) error {
	if dash > 0 {
		return usageErrorf("put every flag before --, and only PROGRAM ARG... after it")
	}
	f.Args, f.DashFirst = args, dash == 0
	return nil
}

// setCommand sets p's command from the arguments: one is a shell command,
// two or more after -- a program and its arguments.
func (f *jobFlags) setCommand(p *queue.JobInsertParams) error {
	switch {
	case len(f.Args) == 0:
		return usageErrorf("missing COMMAND")
	case len(f.Args) == 1:
		p.Command, p.Argv = f.Args[0], queue.ShellArgv(f.Args[0])
	case !f.DashFirst:
		return usageErrorf("quote a shell command as one argument, or put -- before PROGRAM ARG...")
	default:
		p.Command, p.Argv = queue.QuoteArgv(f.Args), f.Args
	}
	return nil
}

// params builds the job the flags describe, config defaults filling in
// what they do not say; the time it runs is the caller's.
func (f *jobFlags) params(cfg *config.Config, getwd func() (string, error), lookupEnv func(string) (string, bool)) (queue.JobInsertParams, error) {
	p := queue.JobInsertParams{
		Queue:         f.Queue,
		Priority:      f.Priority,
		MaxAttempts:   cfg.Defaults.MaxAttempts,
		Timeout:       cfg.Defaults.Timeout,
		Backoff:       cfg.Defaults.Backoff,
		MaxBackoff:    cfg.Defaults.MaxBackoff,
		PermanentExit: cfg.Defaults.PermanentExit,
	}
	if err := queue.ValidateQueue(p.Queue); err != nil {
		return p, err
	}
	for _, e := range f.Env {
		if k, _, ok := strings.Cut(e, "="); ok {
			if k == "" {
				return p, fmt.Errorf("--env %q: empty name", e)
			}
			p.Env = queue.SetEnv(p.Env, e)
		} else if v, ok := lookupEnv(e); ok {
			p.Env = queue.SetEnv(p.Env, e+"="+v)
		}
	}
	cwd, err := getwd()
	if err != nil {
		return p, fmt.Errorf("current directory: %w", err)
	}
	p.Dir = cwd
	if f.Dir != "" {
		p.Dir = f.Dir
		if !filepath.IsAbs(p.Dir) {
			p.Dir = filepath.Join(cwd, p.Dir)
		}
		if fi, err := os.Stat(p.Dir); err != nil || !fi.IsDir() {
			return p, fmt.Errorf("--dir %s: not a directory", f.Dir)
		}
	}
	return p, nil
}
