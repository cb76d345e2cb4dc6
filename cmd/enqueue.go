package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/queue"
)

// EnqueueOptions are enqueue's dependencies and flags.
type EnqueueOptions struct {
	IO        IOStreams
	Config    func() (*config.Config, error)
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time
	Getwd     func() (string, error)
	LookupEnv func(string) (string, bool)

	Args      []string
	DashFirst bool // -- came before every argument
	Queue     string
	Priority  int
	In        durationFlag
	At        stringFlag
	// These five are bound to the config's defaults.* keys: runEnqueue
	// reads them, flag or not, from Config. They are held here for their
	// types, which check a value as it is parsed.
	MaxAttempts intFlag
	Timeout     durationFlag
	Backoff     durationFlag
	MaxBackoff  durationFlag
	Permanent   stringFlag
	Unique      stringFlag
	After       stringFlag
	Env         []string
	Dir         string
	Batch       bool
	JSON        bool
}

func newEnqueueCmd(f *Factory) *cobra.Command {
	opts := &EnqueueOptions{IO: f.IO, Config: f.Config, OpenStore: f.OpenStore, Now: f.Now, Getwd: f.Getwd, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "enqueue [flags] COMMAND | [flags] -- PROGRAM ARG...",
		Short: "Add a job; print its ID once it is on disk",
		Long: `Add a job to a queue and print its ID, once the job is safely on disk.

One argument is a shell command, run as /bin/sh -c COMMAND. Two or more after
-- are a program and its arguments, run directly without a shell.

With --batch, every line of standard input is a job (with --json, a JSON
object per line with the keys command or argv, queue, priority, run_at,
max_attempts, timeout, unique_key, env, dir); flags give the defaults; all
lines are added or none; one ID is printed per line.

--env K=V sets a variable for the job; --env K copies K from this
environment, and is skipped when K is not set.`,
		Example: `  jobq enqueue 'pg_dump app | gzip > /backup/app.sql.gz'
  jobq enqueue -q mail -p 10 --max-attempts 5 -- /usr/local/bin/send-report --daily
  jobq enqueue --in 15m --timeout 1h 'make -C /srv/site deploy'
  jobq enqueue --unique nightly-sync --at 02:00 'rsync -a /data backup:/data'
  find . -name '*.wav' | sed 's/.*/flac "&"/' | jobq enqueue --batch -q encode`,
		Args: func(cmd *cobra.Command, args []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			dash := cmd.ArgsLenAtDash()
			if dash > 0 {
				return usageErrorf("put every flag before --, and only PROGRAM ARG... after it")
			}
			opts.DashFirst = dash == 0
			return runEnqueue(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Queue, "queue", "q", "default", "queue to add the job to")
	fl.IntVarP(&opts.Priority, "priority", "p", 0, "higher runs first")
	fl.Var(&opts.In, "in", "start no earlier than this long from now (90s, 15m, 2d)")
	fl.Var(&opts.At, "at", "start no earlier than this `time` (RFC 3339, 'YYYY-MM-DD HH:MM', HH:MM)")
	fl.Var(&opts.MaxAttempts, "max-attempts", "attempts before the job is dead (default: config defaults.max_attempts, 3)")
	fl.Var(&opts.Timeout, "timeout", "kill an attempt after this long (default: config defaults.timeout, none)")
	fl.Var(&opts.Backoff, "backoff", "wait before the first retry, doubled each time (default: config defaults.backoff, 10s)")
	fl.Var(&opts.MaxBackoff, "max-backoff", "longest wait between retries (default: config defaults.max_backoff, 1h)")
	fl.Var(&opts.Permanent, "permanent-exit", "exit `codes` that mean dead at once, e.g. 3,64-78")
	fl.Var(&opts.Unique, "unique", "while a job with this `key` is not final, add nothing and print its ID")
	fl.Var(&opts.After, "after", "wait until these jobs (`IDs`, comma-separated) succeeded; cancelled if one ends dead or cancelled")
	fl.StringArrayVar(&opts.Env, "env", nil, "set K=V in the job's environment, or copy K from this one (repeatable)")
	fl.StringVar(&opts.Dir, "dir", "", "working directory (default: the current one)")
	fl.BoolVar(&opts.Batch, "batch", false, "one job per line of standard input")
	fl.BoolVar(&opts.JSON, "json", false, "with --batch: each line is a JSON object")
	// Given, these win over the config's defaults.* (Factory.Config).
	for flag, key := range map[string]string{
		"max-attempts":   "defaults.max_attempts",
		"timeout":        "defaults.timeout",
		"backoff":        "defaults.backoff",
		"max-backoff":    "defaults.max_backoff",
		"permanent-exit": "defaults.permanent_exit",
	} {
		config.BindFlag(fl.Lookup(flag), key)
	}
	return cmd
}

func runEnqueue(ctx context.Context, opts *EnqueueOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	now := opts.Now()
	def, err := opts.defaults(cfg, now)
	if err != nil {
		return &UsageError{Err: err}
	}
	var jobs []queue.JobInsertParams
	switch {
	case opts.JSON && !opts.Batch:
		return usageErrorf("--json goes with --batch")
	case opts.Batch && len(opts.Args) > 0:
		return usageErrorf("--batch reads commands from standard input; give none as arguments")
	case opts.Batch:
		if jobs, err = readBatch(opts.IO.In, opts.JSON, def, now); err != nil {
			return &UsageError{Err: err}
		}
	case len(opts.Args) == 0:
		return usageErrorf("missing COMMAND")
	case len(opts.Args) == 1:
		def.Command, def.Argv = opts.Args[0], queue.ShellArgv(opts.Args[0])
		jobs = append(jobs, def)
	default:
		if !opts.DashFirst {
			return usageErrorf("quote a shell command as one argument, or put -- before PROGRAM ARG...")
		}
		def.Command, def.Argv = queue.QuoteArgv(opts.Args), opts.Args
		jobs = append(jobs, def)
	}
	if !opts.Batch {
		if err := jobs[0].Validate(); err != nil {
			return &UsageError{Err: err}
		}
	}

	if len(jobs) == 0 {
		return nil // an empty batch adds nothing, as xargs -r runs nothing
	}
	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	ids, err := store.JobInsert(ctx, jobs)
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	out := bufio.NewWriter(opts.IO.Out)
	for _, id := range ids {
		out.WriteString(strconv.FormatInt(id, 10))
		out.WriteByte('\n')
	}
	return out.Flush()
}

// defaults builds the job the flags describe, config defaults filling in
// what they do not say; batch lines start from it.
func (opts *EnqueueOptions) defaults(cfg *config.Config, now time.Time) (queue.JobInsertParams, error) {
	p := queue.JobInsertParams{
		Queue:         opts.Queue,
		Priority:      opts.Priority,
		RunAt:         now,
		MaxAttempts:   cfg.Defaults.MaxAttempts,
		Timeout:       cfg.Defaults.Timeout,
		Backoff:       cfg.Defaults.Backoff,
		MaxBackoff:    cfg.Defaults.MaxBackoff,
		PermanentExit: cfg.Defaults.PermanentExit,
		UniqueKey:     opts.Unique.S,
		CreatedAt:     now,
	}
	if err := queue.ValidateQueue(p.Queue); err != nil {
		return p, err
	}
	if opts.Unique.Given && opts.Unique.S == "" {
		return p, errors.New("--unique needs a non-empty key")
	}
	switch {
	case opts.In.Given && opts.At.Given:
		return p, errors.New("give --in or --at, not both")
	case opts.In.Given:
		p.RunAt = now.Add(opts.In.D)
	case opts.At.Given:
		t, err := queue.ParseTime(opts.At.S, now)
		if err != nil {
			return p, fmt.Errorf("--at: %w", err)
		}
		p.RunAt = t
	}
	p.State = queue.NewJobState(p.RunAt, now)
	if opts.After.Given {
		ids, err := queue.ParseIDs(opts.After.S)
		if err != nil {
			return p, fmt.Errorf("--after: %w", err)
		}
		p.After = ids
	}
	for _, e := range opts.Env {
		if k, _, ok := strings.Cut(e, "="); ok {
			if k == "" {
				return p, fmt.Errorf("--env %q: empty name", e)
			}
			p.Env = queue.SetEnv(p.Env, e)
		} else if v, ok := opts.LookupEnv(e); ok {
			p.Env = queue.SetEnv(p.Env, e+"="+v)
		}
	}
	cwd, err := opts.Getwd()
	if err != nil {
		return p, fmt.Errorf("current directory: %w", err)
	}
	p.Dir = cwd
	if opts.Dir != "" {
		p.Dir = opts.Dir
		if !filepath.IsAbs(p.Dir) {
			p.Dir = filepath.Join(cwd, p.Dir)
		}
		if fi, err := os.Stat(p.Dir); err != nil || !fi.IsDir() {
			return p, fmt.Errorf("--dir %s: not a directory", opts.Dir)
		}
	}
	return p, nil
}

// maxBatchLine bounds one line of --batch input.
const maxBatchLine = 1 << 20

// readBatch reads one job per non-blank line. The first bad line stops it:
// nothing is inserted. All input is read before any job is built, so that
// the jobs go into one slice of the right size (growing a slice of 200,000
// jobs cost more than inserting them).
func readBatch(r io.Reader, asJSON bool, def queue.JobInsertParams, now time.Time) ([]queue.JobInsertParams, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	jobs := make([]queue.JobInsertParams, 0, bytes.Count(data, []byte{'\n'})+1)
	n := 0
	for line := range bytes.Lines(data) {
		n++
		if len(line) > maxBatchLine {
			return nil, fmt.Errorf("stdin line %d: longer than %d bytes", n, maxBatchLine)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, err := queue.ParseBatchLine(line, asJSON, def, now)
		if err != nil {
			return nil, fmt.Errorf("stdin line %d: %w", n, err)
		}
		jobs = append(jobs, p)
	}
	return jobs, nil
}
