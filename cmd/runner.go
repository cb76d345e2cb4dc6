package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/queue"
)

// RunnerOptions are what drain and work share: their dependencies and the
// flags that choose what to run and how to log it.
type RunnerOptions struct {
	IO        IOStreams
	Config    func() (*config.Config, error)
	DBPath    func() (string, error)
	OpenStore func(context.Context) (storeNotifier, error)
	Now       func() time.Time
	Getwd     func() (string, error)
	Environ   func() []string

	Queues      []string
	Concurrency intFlag // not given: config work.concurrency
	LogFormat   string
	LogLevel    string
}

func newRunnerOptions(f *Factory) RunnerOptions {
	return RunnerOptions{IO: f.IO, Config: f.Config, DBPath: f.DBPath, OpenStore: f.OpenStore, Now: f.Now, Getwd: f.Getwd, Environ: f.Environ}
}

func (o *RunnerOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVarP(&o.Queues, "queue", "q", nil, "only these queues, comma-separated or repeated (default: all)")
	fl.VarP(&o.Concurrency, "concurrency", "c", "jobs at once (default: config work.concurrency, 1)")
	config.BindFlag(fl.Lookup("concurrency"), "work.concurrency")
	fl.StringVar(&o.LogFormat, "log-format", "text", "log lines as text or json")
	fl.StringVar(&o.LogLevel, "log-level", "info", "least level logged: debug, info, warn or error")
}

// setUp checks the flags and opens the store: everything a bad flag could
// stop happens before anything is written.
func (o *RunnerOptions) setUp(ctx context.Context) (*queue.Runner, *config.Config, error) {
	cfg, err := o.Config()
	if err != nil {
		return nil, nil, err
	}
	for _, q := range o.Queues {
		if err := queue.ValidateQueue(q); err != nil {
			return nil, nil, &UsageError{Err: err}
		}
	}
	log, err := newLogger(o.IO, o.LogFormat, o.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	path, err := o.DBPath()
	if err != nil {
		return nil, nil, err
	}
	// Jobs run in their own directories: a relative path would name
	// another database from there (and jobq progress would create it).
	if !filepath.IsAbs(path) && !postgres.IsURL(path) {
		cwd, err := o.Getwd()
		if err != nil {
			return nil, nil, fmt.Errorf("current directory: %w", err)
		}
		path = filepath.Join(cwd, path)
	}
	store, err := o.OpenStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	return &queue.Runner{
		Store:       store,
		Notifier:    store,
		Worker:      host + ":" + strconv.Itoa(os.Getpid()),
		Queues:      o.Queues,
		Concurrency: cfg.Work.Concurrency,
		Lease:       cfg.Work.Lease,
		Now:         o.Now,
		Jitter:      rand.Float64,
		Log:         log,
		Exec: &queue.Executor{
			Environ:     jobEnviron(o.Environ()),
			DB:          path,
			OutputLimit: cfg.Work.OutputLimit,
			KillGrace:   cfg.Work.KillGrace,
			Now:         o.Now,
		},
	}, cfg, nil
}

// jobEnviron is the environment jobs start from: the worker's, less what
// systemd gave the worker alone (a job must not speak for the service).
func jobEnviron(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		for _, k := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=", "LISTEN_PID="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
}

// newLogger logs one structured line per transition on stderr.
func newLogger(io IOStreams, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(io.ErrOut, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(io.ErrOut, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: use text or json", format)
}
