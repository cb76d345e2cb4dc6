package cmd

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/queue"
	"github.com/jobq/jobq/internal/sqlite"
)

// IOStreams are where a command reads and writes: data to Out, every
// message to ErrOut. Nothing in cmd writes to os.Stdout directly.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal reports whether Out is a terminal, for human-friendly
	// output (relative times).
	IsTerminal bool
	// ErrTerminal reports whether ErrOut is a terminal: a person watches
	// the messages (wait then reports each job as it ends).
	ErrTerminal bool
	// CanPrompt reports whether a person can answer a question: In and
	// ErrOut are terminals.
	CanPrompt bool
}

// Factory holds what commands depend on, so that tests can give them
// buffers, a clock and a database in a temporary directory.
type Factory struct {
	IO        IOStreams
	Now       func() time.Time
	Getwd     func() (string, error)
	LookupEnv func(string) (string, bool)
	Environ   func() []string

	configFlag string
	flags      *pflag.FlagSet // the running command's, some bound to config keys
	cfg        *config.Config
	reachedRun bool
	command    string // the running command as typed after jobq: "queue pause"
}

// NewFactory returns a Factory for the real process.
func NewFactory() *Factory {
	return &Factory{
		IO: IOStreams{
			In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
			IsTerminal:  isTerminal(os.Stdout),
			ErrTerminal: isTerminal(os.Stderr),
			CanPrompt:   isTerminal(os.Stdin) && isTerminal(os.Stderr),
		},
		Now:       time.Now,
		Getwd:     os.Getwd,
		LookupEnv: os.LookupEnv,
		Environ:   os.Environ,
	}
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Config loads the settings once, flags bound to their keys included
// (flag > JOBQ_* > config file > default); a bad value is a usage error.
func (f *Factory) Config() (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	file := f.configFlag
	if file == "" {
		file, _ = f.LookupEnv("JOBQ_CONFIG")
	}
	cfg, err := config.Load(file, f.LookupEnv, f.flags)
	if err != nil {
		// A bad flag value points at --help; a bad file or variable does not.
		var cerr *config.Error
		return nil, &UsageError{Err: err, NoHelp: !errors.As(err, &cerr) || !cerr.FromFlag()}
	}
	f.cfg = cfg
	return cfg, nil
}

// DBPath resolves where the queue lives: --db, then JOBQ_DB, then config
// key db, then the default under $XDG_STATE_HOME. A postgres:// or
// postgresql:// URL is returned as it is (see OpenStore); never print it
// whole: it may hold a password (postgres.RedactURL).
func (f *Factory) DBPath() (string, error) {
	cfg, err := f.Config()
	if err != nil {
		return "", err
	}
	if cfg.DB != "" {
		return cfg.DB, nil
	}
	return config.DefaultDB(f.LookupEnv)
}

// StoreExists reports whether the queue's database is there before
// OpenStore: whether the SQLite file exists (a file that cannot be
// looked at counts as not there: OpenStore says why). A PostgreSQL
// database is always there (jobq creates none; opening one only makes
// jobq's tables, as any command does).
func (f *Factory) StoreExists() (bool, error) {
	path, err := f.DBPath()
	if err != nil || postgres.IsURL(path) {
		return err == nil, err
	}
	// An empty file (mktemp's) is no database yet: opening it writes
	// jobq's schema.
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0, nil
}

// storeNotifier is what OpenStore opens: the jobs, and news of their
// changes for the commands that wait (work, wait, events -f).
type storeNotifier interface {
	queue.Store
	queue.Notifier
}

// OpenStore opens the queue's database: PostgreSQL for a postgres:// or
// postgresql:// URL (cmd/postgres.go), else the SQLite file.
func (f *Factory) OpenStore(ctx context.Context) (storeNotifier, error) {
	path, err := f.DBPath()
	if err != nil {
		return nil, err
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if postgres.IsURL(path) {
		s, err := f.openPostgres(ctx, path, cfg)
		if err != nil {
			return nil, err // not a nil *Store in an interface
		}
		return s, nil
	}
	return sqlite.Open(ctx, path, sqlite.Options{BusyTimeout: cfg.BusyTimeout})
}
