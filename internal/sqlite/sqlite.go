// Package sqlite implements queue.Store on one SQLite file with
// mattn/go-sqlite3, opened one way only: WAL, synchronous=FULL, a busy
// timeout, foreign keys, BEGIN IMMEDIATE for every write, one writer
// connection and a separate read-only pool.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jobq/jobq/internal/queue"
)

var (
	_ queue.Store    = (*Store)(nil)
	_ queue.Notifier = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// minVersion is the oldest SQLite with UPDATE ... RETURNING, which claiming
// needs.
const minVersion = 3035000

// driverName is mattn's driver with jobq's connection set-up.
const driverName = "sqlite3_jobq"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: setUpConn})
}

// setUpConn runs on every new connection, after the DSN's pragmas.
//
// PERSIST_WAL keeps the -wal and -shm files when the last connection
// closes: without it every short-lived jobq process (an enqueue from cron)
// deletes them on exit and the next one creates them again, which FACTS.md
// measured at 1.6 to 2 ms a process. journal_size_limit then keeps the
// kept WAL small after a big batch. temp_store=MEMORY keeps statement
// journals (multi-row inserts, triggers) out of temporary files.
func setUpConn(conn *sqlite3.SQLiteConn) error {
	if err := conn.SetFileControlInt("main", sqlite3.SQLITE_FCNTL_PERSIST_WAL, 1); err != nil {
		return fmt.Errorf("persist WAL: %w", err)
	}
	_, err := conn.Exec("PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 16777216", nil)
	return err
}

// Store is a queue.Store on one SQLite database file.
type Store struct {
	path   string
	file   os.FileInfo // the file opened at path: Ping checks it is still there
	writer *sql.DB     // one connection: SQLite has one writer at a time anyway
	reader *sql.DB     // read-only pool; connects on first use
	stmts  stmtCache   // hot statements kept prepared on the writer (stmt.go)

	// seen is the writer connection's PRAGMA data_version after its last
	// claim: Wait returns once another connection has committed since.
	seen atomic.Int64
	// watch receives when the database's files are written, and is closed
	// once the watch has ended (see changes); unwatch ends it, on Close.
	watchOnce sync.Once
	watch     chan struct{}
	unwatch   func()

	// retryBatchDone, tests only, runs after each committed batch of a
	// retry by filter: where another process may change the jobs before
	// the next batch.
	retryBatchDone func()
}

// Options tune Open.
type Options struct {
	// BusyTimeout is how long a statement waits for another process's
	// write lock before failing with queue.ErrBusy.
	BusyTimeout time.Duration
}

// Open opens the database at path, creating it (directory 0700, file 0600)
// and bringing its schema up to date. A database file or directory that
// others may write is refused: whoever writes the queue runs commands as
// the worker.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if _, n, _ := sqlite3.Version(); n < minVersion {
		return nil, fmt.Errorf("sqlite %d is too old: jobq needs 3.35.0 or newer", n)
	}
	if err := prepareFile(path); err != nil {
		return nil, err
	}
	file, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	uri := "file:" + escapePath(path)
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	writer, err := sql.Open(driverName, uri+"?_synchronous=FULL&_foreign_keys=1&_txlock=immediate&_busy_timeout="+busy)
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxLifetime(0)
	reader, err := sql.Open(driverName, uri+"?mode=ro&_foreign_keys=1&_busy_timeout="+busy)
	if err != nil {
		writer.Close()
		return nil, err
	}
	s := &Store{path: path, file: file, writer: writer, reader: reader}
	if err := s.useWAL(ctx, opts.BusyTimeout); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// Close closes both pools, and ends the watch of Wait. It may be called
// while a Wait runs (a runner stopped by a store error), so it takes the
// watch's Once, which waits for a watch being set up, and prevents any
// later one.
func (s *Store) Close() error {
	s.watchOnce.Do(func() {})
	if s.unwatch != nil {
		s.unwatch()
	}
	return errors.Join(s.closeStmts(), s.reader.Close(), s.writer.Close())
}

// prepareFile creates the database's directory and file with owner-only
// permissions, and refuses ones that others may write.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	if err := refuseWorldWritable(dir, "directory"); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create database: %w", err)
	}
	if err := refuseWorldWritable(path, "file"); err != nil {
		return err
	}
	// The WAL and its index hold commits not yet in the file: writing
	// them writes the queue as much. Either may not exist yet; SQLite
	// then makes it with the database file's permissions.
	for _, suffix := range []string{"-wal", "-shm"} {
		err := refuseWorldWritable(path+suffix, "file")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func refuseWorldWritable(path, what string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("database %s: %w", what, err)
	}
	if what == "file" && !fi.Mode().IsRegular() {
		return fmt.Errorf("database %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("database %s %s is writable by others (mode %v): refusing, since whoever writes the queue runs commands as the worker; chmod o-w it", what, path, fi.Mode().Perm())
	}
	return nil
}

// escapePath makes a file path safe inside a SQLite URI.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// pageSize is the page size of a new database: 8 KiB, where SQLite's
// default is 4. With twice the rows and keys a page, a new job's index
// entries split pages half as often and a big batch writes half as many
// WAL frames (two write calls each): 200,000 plain lines took 0.85 s of
// CPU against 0.93, a claim and finish through the Store 41-48 µs a job
// against 52-54 (docs/performance.md, fifth session). A database made
// before keeps its size: SQLite changes it only by VACUUM, which WAL mode
// refuses.
const pageSize = 8192

// useWAL puts the database in WAL mode, which then holds for every later
// connection: the mode is kept in the file. A new file gets pageSize
// first: SQLite takes it only before the first table and before WAL mode,
// and ignores it after. Turning a new file to WAL takes
// an exclusive lock, and SQLite fails that at once, without the busy
// handler, while another process opening the same new file holds a shared
// lock; so two workers started together on a fresh database would see one
// fail. The change is retried, briefly, until busyTimeout.
func (s *Store) useWAL(ctx context.Context, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		var mode string
		var err error
		if s.file.Size() == 0 { // new: one statement fewer for every other open
			_, err = s.writer.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(pageSize))
		}
		if err == nil {
			err = s.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		}
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("the database cannot use WAL mode (journal mode %s): keep it on a local filesystem", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return interpretError(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// migrate brings the schema to the newest version, one numbered file at a
// time, in one transaction that ends with PRAGMA user_version. A migration
// that must make a table again (SQLite's way of changing it) turns foreign
// keys off around it, which cannot be done inside a transaction; none does
// yet, so none is.
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	// Checked first without a lock: the common case reads one pragma.
	if _, upToDate, err := schemaVersion(ctx, s.writer, len(files)); upToDate || err != nil {
		return err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	defer tx.Rollback()
	// Another process may have migrated while we waited for the lock,
	// perhaps a newer jobq: its version must not be written back down.
	version, upToDate, err := schemaVersion(ctx, tx, len(files))
	if upToDate || err != nil {
		return err
	}
	for _, file := range files[version:] {
		body, err := migrations.ReadFile(file)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", file, interpretError(err))
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(files))); err != nil {
		return interpretError(err)
	}
	return interpretError(tx.Commit())
}

// schemaVersion reads the database's schema version and says whether it is
// latest; a newer one is an error.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, latest int) (version int, upToDate bool, err error) {
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, false, interpretError(err)
	}
	if version > latest {
		return version, false, fmt.Errorf("database schema version %d is newer than this jobq knows (%d): upgrade jobq", version, latest)
	}
	return version, version == latest, nil
}

// interpretError translates driver errors into the queue package's.
func interpretError(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return queue.ErrNotFound
	}
	if isBusy(err) {
		return busyError{err}
	}
	return err
}

// busyError is SQLite's "database is locked" as queue.ErrBusy, said once:
// both say the same, so the message is queue.ErrBusy's alone, and the
// driver's error stays for errors.As.
type busyError struct{ driver error }

func (e busyError) Error() string   { return queue.ErrBusy.Error() }
func (e busyError) Unwrap() []error { return []error{queue.ErrBusy, e.driver} }

// isBusy says whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
