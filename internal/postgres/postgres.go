// Package postgres implements queue.Store and queue.Notifier on a
// PostgreSQL database with pgx, for workers on several hosts sharing one
// queue. It mirrors internal/sqlite concern by concern (insert, claim,
// deps, ...), and passes the same conformance suite.
//
// What SQLite's single writer gives for free is made explicit here:
//
//   - Every transaction that changes a job's state takes one advisory
//     lock, the write lock (writeLock), before its first write and holds
//     it until it commits. So events get their IDs in commit order (jobq
//     events -f follows the log by ID, and would skip an event whose
//     transaction committed after a later one), queue limits count the
//     running jobs of every host, and a unique key is looked up and
//     inserted with no one in between. It also bounds the store to one
//     such commit at a time, as on SQLite; heartbeats, output flushes,
//     progress and reads do not take it.
//   - Claims pick jobs with FOR UPDATE SKIP LOCKED, so that a claim never
//     waits for a row another transaction holds (a heartbeat, a flush).
//   - A schedule fires by compare and set on its next_at, as on SQLite.
//   - Writers NOTIFY in their transaction; Wait LISTENs on a connection of
//     its own (notify.go).
//   - Round trips are what a claim costs most: BEGIN goes with the write
//     lock, NOTIFY with COMMIT, and JobClaim sends its statements in one
//     batch with them (writeBatched, claim.go), recording a claim's
//     outcomes in one statement. Traces (events, counts, attempts) are
//     kept by one trigger per statement (migration 0003).
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobq/jobq/internal/queue"
)

var (
	_ queue.Store    = (*Store)(nil)
	_ queue.Notifier = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys, in the (int, int) space so as not to meet a single
// bigint key another application may use: jobq's class, then the lock.
const (
	lockClass   = 0x6a6f6271 // "jobq"
	migrateLock = 1
	writeLock   = 2
)

// Store is a queue.Store on one PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	// token names this store in its notifications, so that Wait is not
	// woken by its own writes (as SQLite's data_version ignores the
	// connection's own commits).
	token string
	// notifyCommit notifies waiters and commits (notify.go).
	notifyCommit string
	// stepClaims counts down the claims to make a step at a time
	// before trying claimFast again (claim.go).
	stepClaims atomic.Int32

	listen listener // notify.go
}

// Options tune Open.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock (the write
	// lock, a row) before failing with queue.ErrBusy; it becomes the
	// session's lock_timeout unless the URL sets one.
	BusyTimeout time.Duration
	// Application is application_name (pg_stat_activity) unless the URL
	// sets one: "jobq work", say.
	Application string
	// MaxConns bounds the pool; 0: pgx's default.
	MaxConns int32

	tracer pgx.QueryTracer // tests: counts round trips
}

// ErrBadURL is Open's error for a URL it cannot read.
var ErrBadURL = errors.New("bad PostgreSQL URL")

// IsURL reports whether db names a PostgreSQL database rather than a
// SQLite file.
func IsURL(db string) bool {
	lower := strings.ToLower(db)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// Open connects to the database url names and brings its schema up to
// date. Connection settings (sslmode, host, user, ...) come from the URL
// and the PG* environment variables, as libpq reads them.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := parseURL(url, opts)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.Tracer = opts.tracer
	// jobq's statements are few and fixed: pgx's statement cache (one
	// prepare per statement and connection) is what SQLite's kept
	// statements are to the sqlite store.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, interpretConnect(cfg.ConnConfig, err)
	}
	s := &Store{pool: pool, token: newToken()}
	s.notifyCommit = notifyCommit(s.token)
	s.listen.cfg, s.listen.changed = cfg.ConnConfig, make(chan struct{}, 1)
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, interpretConnect(cfg.ConnConfig, err)
	}
	return s, nil
}

// parseURL reads url and adds opts' settings the URL does not make.
func parseURL(url string, opts Options) (*pgxpool.Config, error) {
	if i := strings.Index(url, "://"); i >= 0 {
		url = strings.ToLower(url[:i]) + url[i:] // POSTGRES:// too, as IsURL
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadURL, Redact(errorText(err)))
	}
	rt := cfg.ConnConfig.RuntimeParams
	if _, ok := rt["application_name"]; !ok && opts.Application != "" {
		rt["application_name"] = opts.Application
	}
	if _, ok := rt["lock_timeout"]; !ok && opts.BusyTimeout > 0 {
		rt["lock_timeout"] = strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	}
	// A jobq process that stops inside a transaction (SIGSTOP, a host cut
	// off) would hold the write lock, idle, and stop every host: the
	// server ends such a session after idleInTx, and notices a peer gone
	// quiet by TCP keepalives. jobq's transactions are never idle for
	// long: between their statements is only the client's own work.
	if _, ok := rt["idle_in_transaction_session_timeout"]; !ok {
		rt["idle_in_transaction_session_timeout"] = strconv.FormatInt(idleInTx(opts.BusyTimeout).Milliseconds(), 10)
	}
	for param, seconds := range map[string]string{"tcp_keepalives_idle": "15", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"} {
		if _, ok := rt[param]; !ok {
			rt[param] = seconds
		}
	}
	// As pgconn's dialer (connect_timeout), with keepalives of its own
	// (Go's default waits 15s, then probes every 15s, 9 times).
	dialer := &net.Dialer{Timeout: cfg.ConnConfig.ConnectTimeout, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3,
	}}
	cfg.ConnConfig.DialFunc = dialer.DialContext
	return cfg, nil
}

// idleInTx is how long a session may sit idle in a transaction: half the
// busy timeout, so that a host waiting for the write lock a stalled one
// holds gets it before its own wait ends; at least a second, and 5s with
// no busy timeout.
func idleInTx(busy time.Duration) time.Duration {
	if busy <= 0 {
		return 5 * time.Second
	}
	return max(busy/2, time.Second)
}

// ScheduleNames reads the names of the schedules at url, sorted, without
// creating or migrating anything (jobq schedule import --dry-run): none
// when jobq has not made its tables there yet.
func ScheduleNames(ctx context.Context, url string, opts Options) ([]string, error) {
	cfg, err := parseURL(url, opts)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, interpretConnect(cfg.ConnConfig, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	if version, _, err := schemaVersion(ctx, conn, len(files)); version == 0 || err != nil {
		return nil, err // version 0: no tables yet
	}
	rows, err := conn.Query(ctx, "SELECT name FROM schedules ORDER BY name")
	if err != nil {
		return nil, interpretError(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, interpretError(err)
}

// Close ends the listener of Wait and closes the pool.
func (s *Store) Close() error {
	s.listen.close()
	s.pool.Close()
	return nil
}

// migrate brings the schema to the newest version, one numbered file at
// a time, in one transaction that holds an advisory lock: two hosts
// starting on a new database together migrate it once. The version is
// kept in jobq_schema (SQLite keeps it in PRAGMA user_version).
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	// Checked first without the lock: the common case reads one row.
	if _, upToDate, err := schemaVersion(ctx, s.pool, len(files)); upToDate || err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, s.pool, readCommitted, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", lockClass, migrateLock); err != nil {
			return interpretError(err)
		}
		// Another host may have migrated while we waited for the lock,
		// perhaps a newer jobq: its version must not be written back down.
		version, upToDate, err := schemaVersion(ctx, tx, len(files))
		if upToDate || err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS jobq_schema (version integer NOT NULL);
			INSERT INTO jobq_schema SELECT 0 WHERE NOT EXISTS (SELECT FROM jobq_schema)`); err != nil {
			return interpretError(err)
		}
		for _, file := range files[version:] {
			body, err := migrations.ReadFile(file)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", file, interpretError(err))
			}
		}
		_, err = tx.Exec(ctx, "UPDATE jobq_schema SET version = $1", len(files))
		return interpretError(err)
	})
}

// schemaVersion reads the database's schema version (0 before the first
// migration) and says whether it is latest; a newer one is an error.
func schemaVersion(ctx context.Context, q querier, latest int) (version int, upToDate bool, err error) {
	var exists bool
	// From pg_tables, read by the statement's snapshot: to_regclass would
	// ask the backend's catalog cache, which an advisory lock does not
	// bring up to date, and a host that waited for the lock would not see
	// the table the migrating one made.
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_tables
		WHERE schemaname = current_schema() AND tablename = 'jobq_schema')`).Scan(&exists); err != nil {
		return 0, false, interpretError(err)
	}
	if exists {
		if err := q.QueryRow(ctx, "SELECT version FROM jobq_schema").Scan(&version); err != nil {
			return 0, false, interpretError(err)
		}
	}
	if version > latest {
		return version, false, fmt.Errorf("database schema version %d is newer than this jobq knows (%d): upgrade jobq", version, latest)
	}
	return version, version == latest, nil
}

// readCommitted begins every transaction of the store: the write lock
// orders writers only if each statement after it reads what the one
// before committed, and a transaction of a stronger level takes its
// snapshot at its first statement, before the lock is had. It is said on
// every BEGIN, whatever the role's or database's default.
var readCommitted = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// lockedBegin begins a transaction as readCommitted does and takes the
// write lock in the same round trip (the simple protocol runs both; the
// transaction BEGIN opens outlives them). If the lock is not had in time
// the transaction is left aborted, and the pool drops the connection.
var lockedBegin = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" +
	strconv.Itoa(lockClass) + ", " + strconv.Itoa(writeLock) + ")"

// querier is what a pool, a connection and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// dbtx is what a transaction's statements run on: a pgx.Tx, or a
// connection in a transaction that writeBatched began.
type dbtx interface {
	querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// writeBatched is write for a transaction whose first statements go in
// one round trip with its BEGIN and write lock: f is handed a connection
// and a batch that begins the transaction, to which it adds statements
// and which it must send (sendBatch) before anything else. NOTIFY and
// COMMIT follow f as in inTx; an error of f rolls back.
func (s *Store) writeBatched(ctx context.Context, f func(c dbtx, begin *pgx.Batch) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return interpretError(err)
	}
	// A connection left in a transaction (an error, a lost COMMIT) is
	// closed by Release rather than pooled.
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue("SELECT pg_advisory_xact_lock($1, $2)", lockClass, writeLock)
	if err := f(conn, b); err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return err
	}
	tag, err := conn.Exec(ctx, s.notifyCommit)
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return interpretCommit(err)
}

// write runs f in a transaction that holds the write lock (see the package
// comment) and notifies waiters as it commits.
func (s *Store) write(ctx context.Context, f func(tx pgx.Tx) error) error {
	return s.inTx(ctx, true, f)
}

// inTx runs f in a transaction, with the write lock when locked, and
// notifies waiters as it commits. An error of f rolls it back. BEGIN and
// the lock go in one round trip, as do NOTIFY and COMMIT.
func (s *Store) inTx(ctx context.Context, locked bool, f func(tx pgx.Tx) error) error {
	opts := readCommitted
	if locked {
		opts.BeginQuery = lockedBegin
	}
	opts.CommitQuery = s.notifyCommit
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return interpretError(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(tx); err != nil {
		return err
	}
	return interpretCommit(tx.Commit(ctx))
}

// interpretCommit is interpretError for the error of a COMMIT: a
// connection lost then leaves the outcome unknown, queue.ErrCommitUnknown
// (the server may have committed before the client heard it).
func interpretCommit(err error) error {
	safe := err != nil && pgconn.SafeToRetry(err) // the COMMIT was never sent
	err = interpretError(err)
	var lost lostError
	if errors.As(err, &lost) && !safe {
		return commitUnknownError{lost.driver}
	}
	return err
}

// commitUnknownError is a connection lost during a commit, as
// queue.ErrCommitUnknown.
type commitUnknownError struct{ driver error }

func (e commitUnknownError) Error() string   { return queue.ErrCommitUnknown.Error() }
func (e commitUnknownError) Unwrap() []error { return []error{queue.ErrCommitUnknown, e.driver} }

// committedError is a write that committed but whose results could not
// be read (claimFast): as queue.ErrCommitUnknown, its caller cannot
// know what it did (a worker tries again; its writes are fenced).
type committedError struct{ err error }

func (e committedError) Error() string {
	return "the change was made but its result could not be read: " + e.err.Error()
}
func (e committedError) Unwrap() []error { return []error{queue.ErrCommitUnknown, e.err} }

// interpretError translates driver errors into the queue package's: no
// row is queue.ErrNotFound; a lock not had within lock_timeout, a
// deadlock or a serialization failure is queue.ErrBusy (nothing was
// written; try again).
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "55P03", pe.Code == "40P01", pe.Code == "40001": // lock_not_available, deadlock_detected, serialization_failure
			return busyError{err}
		case pe.Code == "25P03": // idle_in_transaction_session_timeout
			return idleError{err}
		case strings.HasPrefix(pe.Code, "53"): // insufficient_resources: too many connections, disk full, ...
			return unavailable(err)
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03":
			// The connection failed, or the server is going down or
			// coming up (admin_shutdown, crash_shutdown,
			// cannot_connect_now): the next connection may work.
			return lostError{err}
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.SafeToRetry(err) {
		return lostError{err}
	}
	return err
}

// lostError is a connection to the server lost or not had, as
// queue.ErrBusy: a worker tries again (pgxpool connects anew) and a
// command exits 75. One lost during a write's commit is
// commitUnknownError instead (interpretCommit); heartbeats, progress and
// output flushes, whose commits are not, are repeated as they are.
type lostError struct{ driver error }

func (e lostError) Error() string {
	return "lost the connection to PostgreSQL: " + Redact(errorText(e.driver))
}
func (e lostError) Unwrap() []error { return []error{queue.ErrBusy, e.driver} }

// idleError is the server ending a session that sat idle in a
// transaction past idle_in_transaction_session_timeout (idleInTx unless
// the URL sets it), as queue.ErrBusy: the transaction rolled back, so
// nothing of it was written, even at a COMMIT (the server had not read
// it), and a worker tries again on a new connection. jobq's own work
// between two statements of a transaction is kept short (insertChunk):
// this is a jobq stalled (stopped, starved of CPU) or a timeout set very
// low.
type idleError struct{ driver error }

func (e idleError) Error() string {
	return "PostgreSQL ended the session, idle in a transaction past idle_in_transaction_session_timeout: nothing of it was written"
}
func (e idleError) Unwrap() []error { return []error{queue.ErrBusy, e.driver} }

// busyError is a lock not had in time, a deadlock or a serialization
// failure, as queue.ErrBusy, said in PostgreSQL's terms (not SQLite's
// "database is locked").
type busyError struct{ driver error }

func (e busyError) Error() string {
	code := ""
	if pe := (*pgconn.PgError)(nil); errors.As(e.driver, &pe) {
		code = pe.Code
	}
	switch code {
	case "55P03":
		return "the write lock was busy: another jobq held it (or a job's row) past the busy timeout"
	case "40P01":
		return "a deadlock with another jobq"
	default:
		return "a conflict with another jobq's transaction (serialization failure)"
	}
}
func (e busyError) Unwrap() []error { return []error{queue.ErrBusy, e.driver} }

// UnavailableError is a server that could not be reached or refused the
// connection. It is queue.ErrBusy for the exit status (75: nothing was
// written, try again), said in one line that names the server, never the
// password.
type UnavailableError struct {
	Server string // host:port or socket directory
	Cause  string // the last line of the driver's error, redacted
	err    error
}

func (e *UnavailableError) Error() string {
	if e.Server == "" {
		return "PostgreSQL is unavailable: " + e.Cause
	}
	return fmt.Sprintf("PostgreSQL at %s is unavailable: %s", e.Server, e.Cause)
}

// unavailable is err an UnavailableError, naming the server when err
// says which (a pool connecting anew).
func unavailable(err error) *UnavailableError {
	ue := &UnavailableError{Cause: Redact(errorText(err)), err: err}
	if ce := (*pgconn.ConnectError)(nil); errors.As(err, &ce) && ce.Config != nil {
		ue.Server = serverOf(ce.Config.Host, ce.Config.Port)
	}
	return ue
}

func (e *UnavailableError) Unwrap() []error { return []error{queue.ErrBusy, e.err} }

// interpretConnect makes a failure to connect an UnavailableError; other
// errors (a refused password, a missing database) it leaves to
// interpretError, redacted.
func interpretConnect(cfg *pgx.ConnConfig, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57P03", strings.HasPrefix(pe.Code, "53"): // cannot_connect_now (starting up, shutting down), insufficient_resources (too many connections)
		case strings.HasPrefix(pe.Code, "28"), pe.Code == "3D000": // auth, no such database
			return fmt.Errorf("PostgreSQL at %s: %s", server(cfg), Redact(pe.Message))
		default:
			return interpretError(err)
		}
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if !errors.As(err, &ce) && !errors.As(err, &ne) && (pe == nil) {
		return interpretError(err)
	}
	return &UnavailableError{Server: server(cfg), Cause: Redact(errorText(err)), err: err}
}

// server names where cfg connects: host:port, or the socket directory.
func server(cfg *pgx.ConnConfig) string { return serverOf(cfg.Host, cfg.Port) }

func serverOf(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// errorText is the innermost part of a driver's error: pgx's connection
// errors chain "failed to connect to ...: ... : dial error: ..." and the
// last part says what went wrong.
func errorText(err error) string {
	text := err.Error()
	if i := strings.LastIndex(text, ": "); i >= 0 && i+2 < len(text) {
		text = text[i+2:]
	}
	return strings.ReplaceAll(text, "\n", " ")
}

// Redact removes passwords from text that may quote a connection URL or
// keyword/value string: whatever follows "password=" up to a space, and
// the password of user:password@ in a URL.
func Redact(text string) string {
	var b strings.Builder
	for {
		i := strings.Index(strings.ToLower(text), "password=")
		if i < 0 {
			break
		}
		b.WriteString(text[:i+len("password=")] + "xxxxx")
		text = text[i+len("password="):]
		j := strings.IndexAny(text, " &")
		if j < 0 {
			text = ""
		} else {
			text = text[j:]
		}
	}
	b.WriteString(text)
	return redactURL(b.String())
}

// redactURL replaces the password of every scheme://user:password@ in
// text.
func redactURL(text string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "://")
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i+3])
		text = text[i+3:]
		end := strings.IndexAny(text, "/ ?#")
		if end < 0 {
			end = len(text)
		}
		at := strings.LastIndex(text[:end], "@")
		colon := strings.Index(text[:max(at, 0)], ":")
		if at >= 0 && colon >= 0 {
			b.WriteString(text[:colon+1] + "xxxxx")
			text = text[at:]
		}
	}
}

// RedactURL is a PostgreSQL URL fit to print: its password (in the user
// part or as a password= parameter) replaced by xxxxx.
func RedactURL(url string) string { return Redact(url) }

// newToken returns a random name for a store.
func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
