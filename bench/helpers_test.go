package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// workspace is a private directory (mode 0700, as jobq demands of a
// database's directory) with an environment in which neither jobq nor
// sqlite3 reads the user's configuration.
type workspace struct {
	tb   testing.TB
	dir  string
	env  []string
	jobq string
}

func newWorkspace(tb testing.TB) *workspace {
	tb.Helper()
	bin := jobqBinary(tb)
	// Not tb.TempDir: its long name would not fit in a Unix socket path
	// (task-spooler's socket lives here too).
	dir, err := os.MkdirTemp("", "jobq-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "JOBQ_") || strings.HasPrefix(k, "TS_") ||
			k == "HOME" || k == "XDG_CONFIG_HOME" || k == "XDG_STATE_HOME" || k == "TMPDIR" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir, "TMPDIR="+dir)
	return &workspace{tb: tb, dir: dir, env: env, jobq: bin}
}

// path names a file in the workspace.
func (w *workspace) path(name string) string { return filepath.Join(w.dir, name) }

// command prepares a process in the workspace. Standard streams are files,
// never pipes, so that timing a process is timing the process alone and not
// also the goroutines that copy its output.
func (w *workspace) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	return cmd
}

// jobqCmd prepares `jobq --db DB ARGS...`.
func (w *workspace) jobqCmd(db string, args ...string) *exec.Cmd {
	return w.command(w.jobq, append([]string{"--db", db}, args...)...)
}

// run runs cmd with stdin from the file stdin ("" for /dev/null), times it
// from start to exit, and returns its standard output. A process that fails
// or writes to stderr when it should not fails the benchmark loudly, with
// its stderr.
func (w *workspace) run(cmd *exec.Cmd, stdin string) (time.Duration, string) {
	w.tb.Helper()
	d, out, errOut, err := w.runErr(cmd, stdin)
	if err != nil {
		w.tb.Fatalf("%s: %v\nstderr:\n%s", strings.Join(cmd.Args, " "), err, tail(errOut, 2000))
	}
	return d, out
}

// runErr is run that hands back the error and stderr instead of failing.
func (w *workspace) runErr(cmd *exec.Cmd, stdin string) (time.Duration, string, string, error) {
	w.tb.Helper()
	outF, err := os.CreateTemp(w.dir, "stdout-")
	if err != nil {
		w.tb.Fatal(err)
	}
	defer os.Remove(outF.Name())
	defer outF.Close()
	errF, err := os.CreateTemp(w.dir, "stderr-")
	if err != nil {
		w.tb.Fatal(err)
	}
	defer os.Remove(errF.Name())
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	if stdin != "" {
		in, err := os.Open(stdin)
		if err != nil {
			w.tb.Fatal(err)
		}
		defer in.Close()
		cmd.Stdin = in
	}
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	out, rerr := os.ReadFile(outF.Name())
	if rerr != nil {
		w.tb.Fatal(rerr)
	}
	errOut, rerr := os.ReadFile(errF.Name())
	if rerr != nil {
		w.tb.Fatal(rerr)
	}
	return d, string(out), string(errOut), err
}

// writeFile writes a file in the workspace and returns its path.
func (w *workspace) writeFile(name string, data []byte) string {
	w.tb.Helper()
	p := w.path(name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		w.tb.Fatal(err)
	}
	return p
}

// enqueueOne runs `jobq enqueue true` and checks that it printed one ID.
func (w *workspace) enqueueOne(db string) time.Duration {
	w.tb.Helper()
	d, out := w.run(w.jobqCmd(db, "enqueue", "true"), "")
	if _, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
		w.tb.Fatalf("jobq enqueue printed %q, not an ID", out)
	}
	return d
}

// countJobs counts the jobs in state (all jobs when state is "") as jobq
// lists them.
func (w *workspace) countJobs(db, state string) int {
	w.tb.Helper()
	args := []string{"list", "--ids", "--limit", "0"}
	if state != "" {
		args = append(args, "--state", state)
	}
	_, out := w.run(w.jobqCmd(db, args...), "")
	return countLines(out)
}

func countLines(s string) int { return strings.Count(s, "\n") }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// lookSQLite3 finds the sqlite3 command-line tool or skips.
func lookSQLite3(b *testing.B) string {
	b.Helper()
	p, err := exec.LookPath("sqlite3")
	if err != nil {
		skip(b, "sqlite3 command-line tool not found: install it (apt-get install -y sqlite3) to measure this baseline")
	}
	return p
}

// median of ds; ds is sorted in place.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// quantile of ds, q in [0, 1], nearest rank; ds is sorted in place.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds)-1) + 0.5)
	return ds[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func seconds(d time.Duration) float64 { return d.Seconds() }

// ratio of two medians.
func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// spread describes a sample: median and the 10th to 90th percentile.
func spread(ds []time.Duration) string {
	c := slices.Clone(ds)
	return fmt.Sprintf("median %.2f ms (p10 %.2f, p90 %.2f, n=%d)", ms(median(c)), ms(quantile(c, 0.1)), ms(quantile(c, 0.9)), len(c))
}

// lines makes n copies of line, each ended by a newline.
func lines(line string, n int) []byte {
	return bytes.Repeat([]byte(line+"\n"), n)
}

// lookPathOK is exec.LookPath that gives "" with the error.
func lookPathOK(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return p, nil
}
