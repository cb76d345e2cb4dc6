package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// baselineSchema is the shape of jobq's tables (jobs with its indexes, and
// the events log), frozen here as of November 2026 so that the sqlite3
// baselines do not move when jobq's schema does.
const baselineSchema = `PRAGMA journal_mode = WAL;
CREATE TABLE jobs (
	id INTEGER PRIMARY KEY, queue TEXT NOT NULL, state TEXT NOT NULL,
	priority INTEGER NOT NULL, command TEXT NOT NULL, argv BLOB NOT NULL,
	dir TEXT NOT NULL, env BLOB, run_at INTEGER NOT NULL,
	max_attempts INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
	timeout_ms INTEGER NOT NULL, backoff_ms INTEGER NOT NULL,
	max_backoff_ms INTEGER NOT NULL, permanent_exit TEXT, unique_key TEXT,
	created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
	started_at INTEGER, finished_at INTEGER, exit_code INTEGER,
	last_error TEXT, run INTEGER NOT NULL DEFAULT 0, worker TEXT,
	lease_until INTEGER);
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
CREATE INDEX jobs_state ON jobs (state, id);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
	WHERE unique_key IS NOT NULL AND state NOT IN ('succeeded', 'dead', 'cancelled');
CREATE TABLE events (
	id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, at INTEGER NOT NULL,
	from_state TEXT, to_state TEXT NOT NULL, attempt INTEGER NOT NULL,
	worker TEXT, error TEXT);
CREATE INDEX events_job ON events (job_id, id);`

// nowMs is the current time in Unix milliseconds, in SQLite 3.40's SQL.
const nowMs = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`

// sqliteInsert does in one sqlite3 shell process what `jobq enqueue true`
// does: one durable transaction (synchronous=FULL) that adds the job and
// its first event, printing the new ID. argv is "/bin/sh\0-c\0true".
const sqliteInsert = `PRAGMA synchronous = FULL;
BEGIN IMMEDIATE;
INSERT INTO jobs (queue, state, priority, command, argv, dir, run_at, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, created_at, updated_at)
VALUES ('default', 'pending', 0, 'true', X'2f62696e2f7368002d630074727565', '/tmp',
	` + nowMs + `, 3, 0, 10000, 3600000, ` + nowMs + `, ` + nowMs + `)
RETURNING id;
INSERT INTO events (job_id, at, to_state, attempt)
VALUES (last_insert_rowid(), ` + nowMs + `, 'pending', 0);
COMMIT;`

// createBaselineDB creates a WAL database of baselineSchema with the
// sqlite3 shell.
func (w *workspace) createBaselineDB(sqlite3, db string) {
	w.tb.Helper()
	_, out := w.run(w.command(sqlite3, "-batch", db, baselineSchema), "")
	if strings.TrimSpace(out) != "wal" {
		w.tb.Fatalf("sqlite3 could not put %s in WAL mode: %q", db, out)
	}
}

// BenchmarkEnqueue compares one `jobq enqueue` process with one sqlite3
// shell process that inserts the same job and event rows into a database of
// the same shape, synchronous=FULL, WAL (issue 10's target: at most 1.5x).
// The processes alternate, in a rotating order, and the medians are
// compared.
//
// idle: no other connection holds the database open, so each process is
// the last to close it and checkpoints the WAL (the sqlite3 shell also
// deletes it, for the next process to create again), as when a cron line
// enqueues while no worker runs. held: another connection (a sqlite3 shell)
// keeps each database open, as a running worker would.
//
// idle also times three floors beside them: /bin/true, bench/floor (a
// program that only links the design's four packages, built as jobq was)
// and `jobq version`, and splits the enqueue into what the floor costs and
// jobq's own part (the enqueue less the floor) against the shell's own part
// (the insert less /bin/true). The target's verdict stays on the whole
// enqueue against the whole insert, as issue 10 states it; the split says
// where the time is.
func BenchmarkEnqueue(b *testing.B) {
	for _, held := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "held"}[held]
		b.Run(name, func(b *testing.B) { benchEnqueue(b, held) })
	}
}

func benchEnqueue(b *testing.B, held bool) {
	sqlite3 := lookSQLite3(b)
	w := newWorkspace(b)
	jobqDB, sqliteDB := w.path("jobq.db"), w.path("sqlite3.db")
	w.enqueueOne(jobqDB)
	w.createBaselineDB(sqlite3, sqliteDB)
	if held {
		w.holdOpen(sqlite3, jobqDB)
		w.holdOpen(sqlite3, sqliteDB)
	}

	type contender struct {
		name string
		run  func() time.Duration
		ds   []time.Duration
	}
	cs := []*contender{
		{name: "jobq enqueue", run: func() time.Duration { return w.enqueueOne(jobqDB) }},
		{name: "sqlite3 insert", run: func() time.Duration {
			d, out := w.run(w.command(sqlite3, "-batch", sqliteDB, sqliteInsert), "")
			if _, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
				b.Fatalf("sqlite3 insert printed %q, not an ID", out)
			}
			return d
		}},
	}
	if !held {
		// Floors that tell process start from database work.
		floor := floorBinary(b, w.jobq)
		cs = append(cs,
			&contender{name: "jobq version", run: func() time.Duration {
				d, out := w.run(w.command(w.jobq, "version"), "")
				if !strings.HasPrefix(out, "jobq ") {
					b.Fatalf("jobq version printed %q", out)
				}
				return d
			}},
			&contender{name: "/bin/true", run: func() time.Duration {
				d, _ := w.run(w.command("/bin/true"), "")
				return d
			}},
			&contender{name: "floor (4 pkgs)", run: func() time.Duration {
				d, _ := w.run(w.command(floor), "")
				return d
			}},
		)
	}
	for range 5 { // warm the page cache and the WAL files
		for _, c := range cs {
			c.run()
		}
	}
	b.ResetTimer()
	n := *flagEnqueueN
	for i := range n {
		for j := range cs {
			c := cs[(i+j)%len(cs)]
			c.ds = append(c.ds, c.run())
		}
	}
	b.StopTimer()

	if got, want := w.countJobs(jobqDB, ""), 1+5+n; got != want {
		b.Fatalf("jobq database holds %d jobs, want %d", got, want)
	}
	for _, c := range cs {
		b.Logf("%-15s %s", c.name, spread(c.ds))
	}
	jq, sq := median(cs[0].ds), median(cs[1].ds)
	r := ratio(jq, sq)
	b.ReportMetric(ms(jq), "ms/enqueue")
	b.ReportMetric(ms(sq), "ms/sqlite3")
	b.ReportMetric(r, "x-sqlite3")
	if !held {
		version, bare, floor := median(cs[2].ds), median(cs[3].ds), median(cs[4].ds)
		b.ReportMetric(ms(version), "ms/jobq-version")
		b.ReportMetric(ms(bare), "ms/true")
		b.ReportMetric(ms(floor), "ms/floor")
		note(b, "enqueue floors (idle)", fmt.Sprintf("/bin/true %.2f ms, the design's four packages linked %.2f ms, jobq version %.2f ms",
			ms(bare), ms(floor), ms(version)))
		// jobq's own part: what the enqueue costs above a program that
		// links the design's packages and does nothing; the shell's own
		// part: what its insert costs above a process that does nothing.
		own := ratio(jq-floor, sq-bare)
		b.ReportMetric(own, "x-own")
		note(b, "enqueue's own part vs the shell's (idle)", fmt.Sprintf(
			"%.2fx (enqueue - floor %.2f ms, sqlite3 - /bin/true %.2f ms; of jobq's: version - floor %.2f ms, enqueue - version %.2f ms)",
			own, ms(jq-floor), ms(sq-bare), ms(version-floor), ms(jq-version)))
	}
	target(b, "enqueue vs sqlite3 insert ("+map[bool]string{false: "idle", true: "held open"}[held]+")",
		fmt.Sprintf("%.2fx (jobq %.2f ms, sqlite3 %.2f ms)", r, ms(jq), ms(sq)), "<= 1.5x", r <= 1.5)
}

// holdOpen keeps a sqlite3 shell connected to db until the benchmark ends,
// after it has read from it, so that the WAL stays in place.
func (w *workspace) holdOpen(sqlite3, db string) {
	w.tb.Helper()
	cmd := w.command(sqlite3, "-batch", db)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.tb.Fatal(err)
	}
	w.tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	if _, err := io.WriteString(stdin, "SELECT count(*) FROM jobs;\n"); err != nil {
		w.tb.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if _, perr := strconv.Atoi(strings.TrimSpace(line)); err != nil || perr != nil {
		w.tb.Fatalf("sqlite3 holding %s open answered %q, %v", db, line, err)
	}
	if _, err := os.Stat(db + "-wal"); err != nil {
		w.tb.Fatalf("sqlite3 holds %s open but there is no WAL: %v", db, err)
	}
}

// BenchmarkEnqueueBatch pipes many lines into one `jobq enqueue --batch`
// process, plain and --json alternately (target: at least 200,000 jobs/s
// each), and times, as a ceiling, the sqlite3 shell inserting as many jobs
// and events, of the same shape, with one statement each.
//
// Each batch goes into a database that already exists, created and
// migrated untimed just before (by `jobq stats`), as the sqlite3 shell's
// is (createBaselineDB): the common case, a queue in use. A batch into a
// database not yet there also creates it, and --json input then is read
// twice (checked whole first, so that a bad line leaves no file behind).
func BenchmarkEnqueueBatch(b *testing.B) {
	w := newWorkspace(b)
	n := *flagBatchN
	plain := w.writeFile("plain.txt", lines("true", n))
	jsonl := w.writeFile("lines.jsonl", lines(`{"command":"true"}`, n))
	sqlite3, sqliteErr := lookPathOK("sqlite3")

	kinds := []struct {
		name  string
		input string
		args  []string
	}{
		{"plain", plain, []string{"enqueue", "--batch"}},
		{"json", jsonl, []string{"enqueue", "--batch", "--json"}},
	}
	ds := make([][]time.Duration, len(kinds))
	var ceiling []time.Duration
	b.ResetTimer()
	for i := range *flagBatchRuns {
		for j := range kinds {
			k := kinds[(i+j)%len(kinds)]
			db := w.path(fmt.Sprintf("batch-%s-%d.db", k.name, i))
			w.run(w.jobqCmd(db, "stats"), "") // creates and migrates it, untimed
			d, out := w.run(w.jobqCmd(db, k.args...), k.input)
			if got := countLines(out); got != n {
				b.Fatalf("enqueue --batch (%s) printed %d IDs for %d lines", k.name, got, n)
			}
			if got := w.countRows(sqlite3, db); got != n {
				b.Fatalf("enqueue --batch (%s): %d jobs in the database, want %d", k.name, got, n)
			}
			ds[(i+j)%len(kinds)] = append(ds[(i+j)%len(kinds)], d)
			w.removeDB(db)
		}
		if sqliteErr == nil {
			db := w.path(fmt.Sprintf("batch-sqlite3-%d.db", i))
			w.createBaselineDB(sqlite3, db)
			d, _ := w.run(w.command(sqlite3, "-batch", db, fmt.Sprintf(sqliteBulk, n)), "")
			if got := w.countRows(sqlite3, db); got != n {
				b.Fatalf("sqlite3 bulk insert: %d rows, want %d", got, n)
			}
			_, out := w.run(w.command(sqlite3, "-batch", db, "SELECT count(*) FROM events"), "")
			if strings.TrimSpace(out) != strconv.Itoa(n) {
				b.Fatalf("sqlite3 bulk insert: %s events, want %d", out, n)
			}
			ceiling = append(ceiling, d)
			w.removeDB(db)
		}
	}
	b.StopTimer()

	for j, k := range kinds {
		d := median(ds[j])
		rate := float64(n) / seconds(d)
		unit := "jobs/s"
		if k.name != "plain" {
			unit = "jobs/s-" + k.name
		}
		b.ReportMetric(rate, unit)
		target(b, "enqueue --batch "+k.name, fmt.Sprintf("%.0f jobs/s (%d lines in %.2f s)", rate, n, seconds(d)), ">= 200000 jobs/s", rate >= 200000)
	}
	if len(ceiling) > 0 {
		d := median(ceiling)
		rate := float64(n) / seconds(d)
		b.ReportMetric(rate, "rows/s-sqlite3")
		note(b, "sqlite3 shell, same jobs and events by INSERT ... SELECT", fmt.Sprintf("%.0f rows/s (%.2f s)", rate, seconds(d)))
	}
}

// sqliteBulk inserts %d rows like those `jobq enqueue --batch` writes for
// the line "true", and their events, in one transaction of two statements:
// what SQLite alone costs for the same rows and indexes.
const sqliteBulk = `PRAGMA synchronous = FULL;
BEGIN IMMEDIATE;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
INSERT INTO jobs (queue, state, priority, command, argv, dir, run_at, max_attempts,
	timeout_ms, backoff_ms, max_backoff_ms, created_at, updated_at)
SELECT 'default', 'pending', 0, 'true', X'2f62696e2f7368002d630074727565', '/tmp',
	1795000000000, 3, 0, 10000, 3600000, 1795000000000, 1795000000000 FROM n;
INSERT INTO events (job_id, at, to_state, attempt)
SELECT id, created_at, state, attempts FROM jobs;
COMMIT;`

// countRows counts the jobs in db with the sqlite3 shell when there is one,
// which is quicker than listing 200,000 jobs, else with jobq list.
func (w *workspace) countRows(sqlite3, db string) int {
	w.tb.Helper()
	if sqlite3 == "" {
		return w.countJobs(db, "")
	}
	_, out := w.run(w.command(sqlite3, "-batch", db, "SELECT count(*) FROM jobs"), "")
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		w.tb.Fatalf("sqlite3 count printed %q", out)
	}
	return n
}

// removeDB deletes a database and its WAL files, to keep the disk use of a
// run small.
func (w *workspace) removeDB(db string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(db + suffix)
	}
}
