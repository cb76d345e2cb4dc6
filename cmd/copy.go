package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/sqlite"
)

// CopyOptions are copy's dependencies and flags.
type CopyOptions struct {
	IO     IOStreams
	Config func() (*config.Config, error)
	DBPath func() (string, error)
	// OpenTarget opens the PostgreSQL database named by To.
	OpenTarget func(ctx context.Context, url string, cfg *config.Config) (*postgres.Store, error)

	To string
}

func newCopyCmd(f *Factory) *cobra.Command {
	opts := &CopyOptions{IO: f.IO, Config: f.Config, DBPath: f.DBPath, OpenTarget: f.openPostgres}
	cmd := &cobra.Command{
		Use:   "copy --to POSTGRES_URL",
		Short: "Copy a SQLite queue whole into a new PostgreSQL database",
		Long: `Copy everything in the SQLite database (--db, JOBQ_DB, ...) into a PostgreSQL
database that jobq has not used yet: every job with its ID, state, attempt
history, output and events, every dependency, every schedule with its next
tick, every queue's pause and limits. It is one transaction: all of it or
nothing. New job IDs go on after the highest the SQLite queue ever gave.

Stop the workers first (systemctl stop jobq): a job the copy sees running
is copied running, and taken back by a worker on PostgreSQL once its lease
expires (one attempt counted as "worker lost"). Then point JOBQ_DB (or db
in the config) at the URL and start the workers again. The SQLite file is
read, never changed. docs/scaling.md walks through it.`,
		Example: `  systemctl stop jobq
  jobq copy --to postgres://jobq@db.internal/jobq
  JOBQ_DB=postgres://jobq@db.internal/jobq jobq stats`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCopy(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "the PostgreSQL database to copy into (postgres://...)")
	return cmd
}

func runCopy(ctx context.Context, opts *CopyOptions) error {
	if !postgres.IsURL(opts.To) {
		return usageErrorf("--to must be a postgres:// or postgresql:// URL")
	}
	from, err := opts.DBPath()
	if err != nil {
		return err
	}
	if postgres.IsURL(from) {
		return usageErrorf("the queue to copy (--db) is already on PostgreSQL: copy reads a SQLite file")
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	src, err := sqlite.Open(ctx, from, sqlite.Options{BusyTimeout: cfg.BusyTimeout})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := opts.OpenTarget(ctx, opts.To, cfg)
	if err != nil {
		return err
	}
	defer dst.Close()
	res, err := dst.CopyFrom(ctx, src.Reader())
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "jobq: copied %s, %s and %s to %s\n", plural(res["jobs"], "job"),
		plural(res["schedules"], "schedule"), plural(res["queues"], "queue setting"), postgres.RedactURL(opts.To))
	return nil
}
