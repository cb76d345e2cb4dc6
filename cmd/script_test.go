package cmd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/jobq/jobq/internal/postgres"
	"github.com/jobq/jobq/internal/postgres/pgtest"
)

// TestMain lets testscript run jobq in-process as the command "jobq", and
// starts a throwaway PostgreSQL server for TestScriptsPostgres when the
// binary runs its tests (pgtest).
func TestMain(m *testing.M) {
	testscript.Main(pgtest.Wrap(m, migratePostgres), map[string]func(){
		"jobq": func() { os.Exit(Main()) },
	})
}

// migratePostgres makes the test databases' template jobq's schema.
func migratePostgres(ctx context.Context, url string) error {
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		return err
	}
	return s.Close()
}

// TestScripts runs the CLI scenarios in testdata/script: the real binary,
// a real SQLite file in the script's work directory, real processes.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, scriptParams(false))
}

// TestScriptsPostgres runs the same scenarios on PostgreSQL: JOBQ_DB is a
// new database of the test server for each script. The condition
// [postgres] marks what differs; a script about SQLite alone (its file,
// its locks) skips itself, saying why.
func TestScriptsPostgres(t *testing.T) {
	t.Parallel()
	if ok, why := pgtest.Available(); !ok {
		t.Skip(why)
	}
	testscript.Run(t, scriptParams(true))
}

func scriptParams(pg bool) testscript.Params {
	return testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "config"))
			env.Setenv("JOBQ_DB", filepath.Join(env.WorkDir, "q", "jobq.db"))
			env.Setenv("TZ", "UTC")
			if pg {
				url, drop, err := pgtest.CreateDatabase()
				if err != nil {
					return err
				}
				env.Defer(func() {
					if err := drop(); err != nil {
						env.T().Log(err)
					}
				})
				env.Setenv("JOBQ_DB", url)
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "postgres" {
				return pg, nil
			}
			return scriptCondition(cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dbdump":       cmdDBDump,
			"lockdb":       cmdLockDB,
			"waitfile":     cmdWaitFile,
			"notifysocket": cmdNotifySocket,
			"status":       cmdStatus,
			"oneline":      cmdOneLine,
			"freeport":     cmdFreePort,
			"httpget":      cmdHTTPGet,
		},
	}
}

// bashCompletion is the bash-completion package's script, which bash
// sources for a shell user, and cobra's completion script needs.
const bashCompletion = "/usr/share/bash-completion/bash_completion"

// scriptCondition adds [bash-completion]: the package is installed; and
// [postgres] (scriptParams): JOBQ_DB is a PostgreSQL database.
func scriptCondition(cond string) (bool, error) {
	if cond == "bash-completion" {
		_, err := os.Stat(bashCompletion)
		return err == nil, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// cmdStatus runs a program as exec does (its stdout and stderr are then
// checked the same way) and checks its exact exit status: `! exec` says
// only "not zero", and jobq promises 1, 2, 75 or 124.
// Usage: status CODE PROGRAM [ARG...].
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE PROGRAM [ARG...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("usage: status CODE PROGRAM [ARG...]: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// cmdOneLine checks that the last command wrote one line on stderr, a
// message starting "jobq: ", as every refusal of bad input does.
// Usage: oneline.
func cmdOneLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: oneline")
	}
	stderr := ts.ReadFile("stderr")
	if !strings.HasPrefix(stderr, "jobq: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		ts.Fatalf("stderr is not one line starting 'jobq: ': %q", stderr)
	}
}

// cmdDBDump prints every job's id, queue, state and attempts, and the
// number of attempt and event rows: enough to see that a refused command
// wrote nothing. Usage: dbdump [PATH] (default $JOBQ_DB).
func cmdDBDump(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! dbdump")
	}
	path := ts.Getenv("JOBQ_DB")
	if len(args) > 0 {
		path = args[0]
	}
	if postgres.IsURL(path) {
		fmt.Fprint(ts.Stdout(), dumpPostgres(ts, path))
		return
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	ts.Check(err)
	defer db.Close()
	var b strings.Builder
	rows, err := db.Query("SELECT id, queue, state, attempts FROM jobs ORDER BY id")
	ts.Check(err)
	for rows.Next() {
		var id, attempts int
		var queue, state string
		ts.Check(rows.Scan(&id, &queue, &state, &attempts))
		fmt.Fprintf(&b, "job %d %s %s %d\n", id, queue, state, attempts)
	}
	ts.Check(rows.Err())
	// Schedules, when there are any: every setting but the times.
	rows, err = db.Query("SELECT name, expr, zone, overlap, jitter_ms, paused, queue, command FROM schedules ORDER BY name")
	ts.Check(err)
	for rows.Next() {
		var name, expr, zone, overlap, queue, command string
		var jitter, paused int
		ts.Check(rows.Scan(&name, &expr, &zone, &overlap, &jitter, &paused, &queue, &command))
		fmt.Fprintf(&b, "schedule %s %q %q %s %dms paused=%d %s %q\n", name, expr, zone, overlap, jitter, paused, queue, command)
	}
	ts.Check(rows.Err())
	for _, table := range []string{"attempts", "events"} {
		var n int
		ts.Check(db.QueryRow("SELECT count(*) FROM " + table).Scan(&n))
		fmt.Fprintf(&b, "%s %d\n", table, n)
	}
	fmt.Fprint(ts.Stdout(), b.String())
}

// dumpPostgres is dbdump of a PostgreSQL database: the same lines. A
// database jobq has not made its tables in yet dumps as an empty one.
func dumpPostgres(ts *testscript.TestScript, url string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	ts.Check(err)
	defer conn.Close(ctx)
	var b strings.Builder
	var migrated bool
	ts.Check(conn.QueryRow(ctx, "SELECT to_regclass('jobs') IS NOT NULL").Scan(&migrated))
	if !migrated {
		return "attempts 0\nevents 0\n"
	}
	rows, err := conn.Query(ctx, "SELECT id, queue, state, attempts FROM jobs ORDER BY id")
	ts.Check(err)
	for rows.Next() {
		var id, attempts int
		var queue, state string
		ts.Check(rows.Scan(&id, &queue, &state, &attempts))
		fmt.Fprintf(&b, "job %d %s %s %d\n", id, queue, state, attempts)
	}
	ts.Check(rows.Err())
	rows, err = conn.Query(ctx, `SELECT name, expr, zone, overlap, jitter_ms, paused::int, queue, command
		FROM schedules ORDER BY name`)
	ts.Check(err)
	for rows.Next() {
		var name, expr, zone, overlap, queue string
		var command []byte
		var jitter, paused int
		ts.Check(rows.Scan(&name, &expr, &zone, &overlap, &jitter, &paused, &queue, &command))
		fmt.Fprintf(&b, "schedule %s %q %q %s %dms paused=%d %s %q\n", name, expr, zone, overlap, jitter, paused, queue, command)
	}
	ts.Check(rows.Err())
	for _, table := range []string{"attempts", "events"} {
		var n int
		ts.Check(conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		fmt.Fprintf(&b, "%s %d\n", table, n)
	}
	return b.String()
}

// cmdLockDB holds a write transaction on $JOBQ_DB, as another busy
// process would, for DURATION. Usage: lockdb DURATION.
func cmdLockDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lockdb DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	db, err := sql.Open("sqlite3", "file:"+ts.Getenv("JOBQ_DB")+"?_txlock=immediate")
	ts.Check(err)
	tx, err := db.BeginTx(context.Background(), nil)
	ts.Check(err)
	_, err = tx.Exec("UPDATE jobs SET priority = priority")
	ts.Check(err)
	go func() {
		time.Sleep(d)
		tx.Rollback()
		db.Close()
	}()
}

// cmdWaitFile waits up to 30s for a file to exist, or to match a regular
// expression, to synchronise with a process running in the background.
// Usage: waitfile PATH [REGEXP].
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile PATH [REGEXP]")
	}
	path := ts.MkAbs(args[0])
	var re *regexp.Regexp
	if len(args) == 2 {
		re = regexp.MustCompile(args[1])
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if body, err := os.ReadFile(path); err == nil && (re == nil || re.Match(body)) {
			return
		}
	}
	ts.Fatalf("%s did not appear (or match %v) within 30s", args[0], re)
}

// cmdNotifySocket listens on a unix datagram socket, as systemd's
// NOTIFY_SOCKET, and appends every message it gets to a file, one a line.
// Usage: notifysocket SOCKET FILE.
func cmdNotifySocket(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: notifysocket SOCKET FILE")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ts.MkAbs(args[0]), Net: "unixgram"})
	ts.Check(err)
	out, err := os.OpenFile(ts.MkAbs(args[1]), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	ts.Check(err)
	ts.Defer(func() { conn.Close(); out.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			out.Write(append(buf[:n:n], '\n'))
		}
	}()
}

// cmdFreePort sets VAR to a TCP port free on 127.0.0.1 a moment ago, for a
// server the script starts. Usage: freeport VAR.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ts.Check(ln.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdHTTPGet gets URL until it answers with STATUS, for up to WITHIN
// (default 30s: a server starting in the background, a health check that
// turns), and writes the body to stdout. Usage: httpget URL STATUS [WITHIN].
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: httpget URL STATUS [WITHIN]")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	within := 30 * time.Second
	if len(args) == 3 {
		within, err = time.ParseDuration(args[2])
		ts.Check(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(args[0])
		if err != nil {
			last = err.Error()
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ts.Check(err)
		if resp.StatusCode == want {
			fmt.Fprint(ts.Stdout(), string(body))
			return
		}
		last = fmt.Sprintf("status %d: %s", resp.StatusCode, body)
	}
	ts.Fatalf("GET %s did not answer %d within %v; last: %s", args[0], want, within, last)
}
