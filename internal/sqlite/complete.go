package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Completer reads what shell completion offers (job IDs, queue and
// schedule names) without writing to the database, creating it or
// migrating it: a completion runs at every Tab, and must leave no trace.
type Completer struct {
	db *sql.DB
}

// ErrNoDatabase is OpenCompleter's error when there is no database yet.
var ErrNoDatabase = errors.New("no database")

// OpenCompleter opens the database at path read-only (SQLite's mode=ro).
// A path where no file exists gives ErrNoDatabase, and nothing is created.
func OpenCompleter(path string) (*Completer, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDatabase
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a database file", path)
	}
	// A short busy timeout: a completion that waits is worse than none.
	db, err := sql.Open(driverName, "file:"+escapePath(path)+"?mode=ro&_busy_timeout=200")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &Completer{db: db}, nil
}

// Close closes the database.
func (c *Completer) Close() error { return c.db.Close() }

// JobSummary is a job as completion describes it.
type JobSummary struct {
	ID      int64
	State   string
	Command string
}

// RecentJobs returns the newest jobs, newest first, at most limit.
func (c *Completer) RecentJobs(ctx context.Context, limit int) ([]JobSummary, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT id, state, command FROM jobs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []JobSummary
	for rows.Next() {
		var j JobSummary
		if err := rows.Scan(&j.ID, &j.State, &j.Command); err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// Queues returns the names of the queues that have jobs or settings.
func (c *Completer) Queues(ctx context.Context) ([]string, error) {
	return c.names(ctx, `SELECT queue FROM job_counts WHERE n > 0 UNION SELECT name FROM queues ORDER BY 1`)
}

// ScheduleNames returns the names of the schedules, sorted: for
// completing `jobq schedule ... NAME` and `list --schedule`.
func (c *Completer) ScheduleNames(ctx context.Context) ([]string, error) {
	names, err := c.names(ctx, `SELECT name FROM schedules ORDER BY name`)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		// A database from before schedules: none yet (opened read-only,
		// it is not migrated).
		return nil, nil
	}
	return names, err
}

func (c *Completer) names(ctx context.Context, query string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := c.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		names = append(names, s)
	}
	return names, rows.Err()
}
