// Package pgtest gives tests a real PostgreSQL server: one throwaway
// server per test binary, started by Main from TestMain, and a fresh
// database per test (NewDatabase), copied from a template the binary
// prepared once, which is fast. With JOBQ_TEST_POSTGRES_URL set, the
// tests use that server instead (a database it may create databases on).
//
// The server is Debian's PostgreSQL (initdb and postgres in
// /usr/lib/postgresql/VERSION/bin, not on PATH). It refuses to run as
// root, so as root it runs as nobody, in a temporary folder that user
// owns. It listens on a free port of 127.0.0.1 (fault tests connect
// over TCP from several processes) and on a socket in that folder.
// fsync is off: a test server holds nothing worth keeping.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at a server of one's
// own.
const EnvURL = "JOBQ_TEST_POSTGRES_URL"

var (
	// baseURL is the server's URL, database left out; empty when there is
	// no server (skipReason says why).
	baseURL    string
	skipReason string
	template   string
	adminMu    sync.Mutex
	admin      *pgx.Conn
	dbN        atomic.Int64
	prefix     = fmt.Sprintf("jobq_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
)

// M is what Main runs the tests of: a *testing.M, or what testscript.Main
// is given (Wrap).
type M interface{ Run() int }

// Wrap is m with a server around its Run, for testscript.Main, whose
// Run must start the server only when the binary runs tests (not when it
// runs as a command of a script).
func Wrap(m M, prepare func(ctx context.Context, url string) error) M {
	return wrapped{m, prepare}
}

type wrapped struct {
	m       M
	prepare func(ctx context.Context, url string) error
}

func (w wrapped) Run() int { return Main(w.m, w.prepare) }

// Main starts the server (or connects to the one EnvURL names), makes the
// template database and lets prepare bring it to what every test's
// database starts as (the schema, migrated), runs the tests, and stops
// and removes the server. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, prepare)) }
func Main(m M, prepare func(ctx context.Context, url string) error) int {
	stop, err := start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer stop()
	if baseURL != "" {
		if err := makeTemplate(prepare); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

// NewDatabase returns the URL of a new, empty database (from the template) for t,
// dropped when t ends; it skips t when there is no server.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, template)
}

func newDatabase(t testing.TB, template string) string {
	t.Helper()
	if baseURL == "" {
		t.Skip(skipReason)
	}
	url, drop, err := create(template)
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return url
}

// CreateDatabase is NewDatabase for callers without a testing.TB (a
// testscript Setup): it returns the new database's URL and what drops
// it; with no server, the error says why (Available tells apart).
func CreateDatabase() (url string, drop func() error, err error) {
	if baseURL == "" {
		return "", nil, errors.New(skipReason)
	}
	return create(template)
}

func create(template string) (url string, drop func() error, err error) {
	name := fmt.Sprintf("%s_%d", prefix, dbN.Add(1))
	if err := adminExec(fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		return "", nil, err
	}
	return withDatabase(baseURL, name), func() error { return adminExec("DROP DATABASE " + name + " WITH (FORCE)") }, nil
}

// NewEmptyDatabase is NewDatabase without the template's preparation: a
// database with no schema (from template0), for tests of migration.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "template0")
}

// Available reports whether tests have a server, and if not, why.
func Available() (bool, string) { return baseURL != "", skipReason }

func adminExec(sql string) error {
	adminMu.Lock()
	defer adminMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := admin.Exec(ctx, sql)
	return err
}

// withDatabase puts database name into a URL.
func withDatabase(url, name string) string {
	base, query, _ := strings.Cut(url, "?")
	if i := strings.Index(base, "://"); i >= 0 {
		if j := strings.Index(base[i+3:], "/"); j >= 0 {
			base = base[:i+3+j]
		}
	}
	out := base + "/" + name
	if query != "" {
		out += "?" + query
	}
	return out
}

// makeTemplate makes the template database and prepares it.
func makeTemplate(prepare func(ctx context.Context, url string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	if admin, err = pgx.Connect(ctx, withDatabase(baseURL, "postgres")); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	template = prefix + "_template"
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	if prepare != nil {
		if err := prepare(ctx, withDatabase(baseURL, template)); err != nil {
			return fmt.Errorf("prepare template: %w", err)
		}
	}
	return nil
}

// start starts a server, or takes EnvURL's; it returns what stops it.
func start() (stop func(), err error) {
	if url := os.Getenv(EnvURL); url != "" {
		baseURL = url
		return dropTemplate, nil
	}
	bin, err := binDir()
	if err != nil {
		skipReason = err.Error()
		return func() {}, nil
	}
	srv, err := startServer(bin)
	if err != nil {
		return nil, err
	}
	baseURL, running = srv.url, srv
	return func() { dropTemplate(); srv.stop() }, nil
}

func dropTemplate() {
	if admin == nil {
		return
	}
	if template != "" {
		_ = adminExec("DROP DATABASE IF EXISTS " + template + " WITH (FORCE)")
	}
	admin.Close(context.Background())
}

// binDir finds the folder of initdb and postgres: PostgreSQL 15's
// Debian folder first, then any other version's, then PATH.
func binDir() (string, error) {
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(candidates, func(i, j int) bool {
		return strings.Contains(candidates[i], "/15/") && !strings.Contains(candidates[j], "/15/")
	})
	if path, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(path))
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
				return dir, nil
			}
		}
	}
	return "", errors.New("no PostgreSQL server installed (initdb and postgres not found; apt-get install postgresql), and " + EnvURL + " is not set")
}

type server struct {
	dir  string
	url  string
	bin  string
	args []string
	cred *syscall.Credential
	cmd  *exec.Cmd
}

// running is the tests' own server; nil with EnvURL.
var running *server

// startServer runs initdb into a new temporary folder and starts
// postgres on it, as nobody when this process is root.
func startServer(bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "jobq-pg-")
	if err != nil {
		return nil, err
	}
	srv := &server{dir: dir}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("the server refuses root and there is no user nobody: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "jobq", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv.args = []string{"-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=" + dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "shared_buffers=32MB",
		"-c", "log_min_messages=fatal"}
	srv.bin, srv.cred = bin, cred
	srv.url = fmt.Sprintf("postgres://jobq@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := srv.launch(); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// launch starts postgres and waits until it takes connections.
func (s *server) launch() error {
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), s.args...)
	s.cmd.Dir = s.dir
	// Pdeathsig: a test binary killed leaves no server behind.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
		defer logFile.Close()
	}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.url)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("postgres did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CanRestart reports whether Restart and Stop may stop the server: only
// the tests' own may be stopped, not one of EnvURL's, and not when there
// is none.
func CanRestart() bool { return running != nil }

// Restart stops the test server (a fast shutdown: every connection is
// cut) and starts it again on the same data and port, after pause. It
// fails when the tests use a server of their own (EnvURL).
func Restart(pause time.Duration) error {
	start, err := Stop()
	if err != nil {
		return err
	}
	time.Sleep(pause)
	return start()
}

// Stop stops the test server with a fast shutdown (every connection is
// cut) and returns start, which starts it again on the same data and
// port and waits until it takes connections. Until start is called,
// creating or dropping a database waits. A test calls start itself, and
// from a Cleanup too, so that a failure leaves the server up for the
// next test: start does its work once, later calls return its error.
// Stop fails when the tests use a server of their own (EnvURL).
func Stop() (start func() error, err error) {
	if running == nil {
		return nil, errors.New("not the tests' own server: " + EnvURL + " is set, or there is none")
	}
	adminMu.Lock()
	running.halt()
	var (
		once     sync.Once
		startErr error
	)
	return func() error {
		once.Do(func() {
			defer adminMu.Unlock()
			startErr = relaunch()
		})
		return startErr
	}, nil
}

// relaunch starts the halted server and connects admin anew (its
// connection was cut with the others); adminMu is held.
func relaunch() error {
	if err := running.launch(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	admin, err = pgx.Connect(ctx, withDatabase(baseURL, "postgres"))
	return err
}

// stop stops the server and removes its folder.
func (s *server) stop() {
	s.halt()
	os.RemoveAll(s.dir)
}

// halt stops the server with a fast shutdown.
func (s *server) halt() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
