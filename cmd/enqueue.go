package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
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
	// StoreExists reports whether the database is there before OpenStore.
	StoreExists func() (bool, error)
	Now         func() time.Time
	Getwd       func() (string, error)
	LookupEnv   func(string) (string, bool)

	Job    jobFlags
	In     durationFlag
	At     stringFlag
	Unique stringFlag
	After  stringFlag
	Batch  bool
	JSON   bool
}

func newEnqueueCmd(f *Factory) *cobra.Command {
	opts := &EnqueueOptions{IO: f.IO, Config: f.Config, OpenStore: f.OpenStore, StoreExists: f.StoreExists, Now: f.Now, Getwd: f.Getwd, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "enqueue [flags] COMMAND | [flags] -- PROGRAM ARG...",
		Short: "Add a job; print its ID once it is on disk",
		Long: `Add a job to a queue and print its ID, once the job is safely on disk.

One argument is a shell command, run as /bin/sh -c COMMAND. Two or more after
-- are a program and its arguments, run directly without a shell.

With --batch, every line of standard input is a job (with --json, a JSON
object per line with the keys command or argv, queue, priority, run_at,
max_attempts, timeout, unique_key, env, dir); flags give the defaults; all
lines are added or none; one ID is printed per line. On a terminal, a
large input (over 10,000 lines, or a second) shows the lines read on
stderr.

--env K=V sets a variable for the job; --env K copies K from this
environment, and is skipped when K is not set.`,
		Example: `  jobq enqueue 'pg_dump app | gzip > /backup/app.sql.gz'
  jobq enqueue -q mail -p 10 --max-attempts 5 -- /usr/local/bin/send-report --daily
  jobq enqueue --in 15m --timeout 1h 'make -C /srv/site deploy'
  jobq enqueue --unique nightly-sync --at 02:00 'rsync -a /data backup:/data'
  find . -name '*.wav' | sed 's/.*/flac "&"/' | jobq enqueue --batch -q encode`,
		Args: func(cmd *cobra.Command, args []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Job.setArgs(args, cmd.ArgsLenAtDash()); err != nil {
				return err
			}
			return runEnqueue(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	opts.Job.register(fl)
	fl.Var(&opts.In, "in", "start no earlier than this long from now (90s, 15m, 2d)")
	fl.Var(&opts.At, "at", "start no earlier than this `time` (RFC 3339, 'YYYY-MM-DD HH:MM', HH:MM)")
	fl.Var(&opts.Unique, "unique", "while a job with this `key` is not final, add nothing and print its ID")
	fl.Var(&opts.After, "after", "wait until these jobs (`IDs`, comma-separated) succeeded; cancelled if one ends dead or cancelled")
	fl.BoolVar(&opts.Batch, "batch", false, "one job per line of standard input")
	fl.BoolVar(&opts.JSON, "json", false, "with --batch: each line is a JSON object")
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
	var jobs iter.Seq2[queue.JobInsertParams, error]
	switch {
	case opts.JSON && !opts.Batch:
		return usageErrorf("--json goes with --batch")
	case opts.Batch && len(opts.Job.Args) > 0:
		return usageErrorf("--batch reads commands from standard input; give none as arguments")
	case opts.Batch:
		in := opts.IO.In
		if opts.IO.ErrTerminal {
			lines := newLineProgress(in, opts.IO.ErrOut, opts.Now)
			in = lines
			defer lines.Stop()
		}
		// All of stdin is read before the store is opened: the insert
		// holds the write lock, which a slow producer would hold
		// against every worker. The jobs are then built one at a time
		// as the store inserts them.
		data, err := io.ReadAll(in)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("read stdin: %w", err)}
		}
		batch := queue.NewBatchReader(data, opts.JSON, def, now)
		// The first job is read before the store is opened, so that
		// input bad from its start creates no database.
		first, err := batch.Next()
		switch {
		case err == io.EOF:
			return nil // an empty batch adds nothing, as xargs -r runs nothing
		case err != nil:
			return badLine(err)
		}
		// A bad line deeper down stops the insert and rolls it back,
		// but a database it opened would be left behind: when that
		// can be, the input is checked whole first. Plain input then
		// has a first good line, so only a NUL byte or a long line
		// can spoil it, which one cheap pass rules out. --json input
		// into a database that exists (the common case) is not read
		// twice: the rollback leaves nothing.
		var check bool
		if opts.JSON {
			exists, err := opts.StoreExists()
			if err != nil {
				return err
			}
			check = !exists
		} else {
			check = !queue.PlainBatchClean(data)
		}
		if check {
			if err := queue.CheckBatch(data, opts.JSON, def, now); err != nil {
				return badLine(err)
			}
		}
		jobs = func(yield func(queue.JobInsertParams, error) bool) {
			if yield(first, nil) {
				batch.All()(yield)
			}
		}
	default:
		if err := opts.Job.setCommand(&def); err != nil {
			return err
		}
		if err := def.Validate(); err != nil {
			return &UsageError{Err: err}
		}
		jobs = queue.Jobs(def)
	}

	store, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	ids, err := store.JobInsert(ctx, jobs)
	if lineErr := (*queue.BatchLineError)(nil); errors.As(err, &lineErr) {
		return badLine(lineErr) // the stream stopped there: nothing was inserted
	}
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

// badLine is the usage error of a bad line of --batch input:
// "stdin line 3: ...".
func badLine(err error) error { return &UsageError{Err: fmt.Errorf("stdin %w", err)} }

// defaults builds the job the flags describe, config defaults filling in
// what they do not say; batch lines start from it.
func (opts *EnqueueOptions) defaults(cfg *config.Config, now time.Time) (queue.JobInsertParams, error) {
	p, err := opts.Job.params(cfg, opts.Getwd, opts.LookupEnv)
	if err != nil {
		return p, err
	}
	p.RunAt, p.CreatedAt, p.UniqueKey = now, now, opts.Unique.S
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
	return p, nil
}
