package cmd

import (
	"context"
	"errors"
	"strings"

	"github.com/jobq/jobq/internal/config"
	"github.com/jobq/jobq/internal/postgres"
)

// openPostgres opens the PostgreSQL store a postgres:// URL names. The
// connection's settings (sslmode, sslrootcert, connect_timeout, ...) are
// the URL's and the PG* variables', as libpq reads them; jobq adds
// application_name "jobq COMMAND" (pg_stat_activity tells a worker from
// an enqueue) and a lock_timeout of busy_timeout, unless the URL sets
// them. Errors never quote the URL's password: a server that cannot be
// reached is one line naming host and port (exit 75, as a database
// locked past the busy timeout: nothing was written, try again).
func (f *Factory) openPostgres(ctx context.Context, url string, cfg *config.Config) (*postgres.Store, error) {
	s, err := postgres.Open(ctx, url, postgres.Options{
		BusyTimeout: cfg.BusyTimeout,
		Application: strings.TrimSpace("jobq " + f.command),
	})
	switch {
	case errors.Is(err, postgres.ErrBadURL):
		return nil, &UsageError{Err: err, NoHelp: true}
	case err != nil:
		return nil, err
	}
	return s, nil
}
