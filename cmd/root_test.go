package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// Run builds one top-level command when args name it. Which one, and when
// it builds them all.
func TestCommandIndex(t *testing.T) {
	t.Parallel()
	index := func(name string) int {
		for i, c := range commands {
			if c.name == name {
				return i
			}
		}
		t.Fatalf("no command %s", name)
		return 0
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"enqueue", "true"}, index("enqueue")},
		{[]string{"--db", "x.db", "enqueue", "--batch"}, index("enqueue")},
		{[]string{"--db=x.db", "--config", "c.yaml", "list"}, index("list")},
		{[]string{"--config=c.yaml", "queue", "pause", "q"}, index("queue")},
		{[]string{"version"}, index("version")},
		{[]string{"--db", "enqueue", "list"}, index("list")}, // a database named enqueue
		{nil, -1},
		{[]string{"--help"}, -1},
		{[]string{"-h", "enqueue"}, -1},
		{[]string{"--", "enqueue"}, -1},
		{[]string{"help", "enqueue"}, -1},
		{[]string{"completion", "bash"}, -1},
		{[]string{cobra.ShellCompRequestCmd, "enqueue", ""}, -1},
		{[]string{"enqueu", "true"}, -1}, // cobra suggests "enqueue" from the whole tree
		{[]string{"--db"}, -1},
	} {
		if got := commandIndex(tc.args); got != tc.want {
			t.Errorf("commandIndex(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}

// Every command, and every subcommand, says the same (help, and the
// usage error of an unknown flag) whether Run built it alone or in the
// whole tree, as NewRootCmd does for help and the generated documents.
func TestOneCommandTreeMatchesTheWholeTree(t *testing.T) {
	t.Parallel()
	var paths [][]string
	walkCommands(NewRootCmd(NewFactory()), func(c *cobra.Command) {
		if c.HasParent() && c.Name() != "help" && !strings.HasPrefix(c.CommandPath(), "jobq completion") {
			paths = append(paths, strings.Fields(c.CommandPath())[1:])
		}
	})
	if len(paths) < 18 {
		t.Fatalf("walked %d commands; the tree has more", len(paths))
	}
	for _, path := range paths {
		for _, extra := range [][]string{{"--help"}, {"--no-such-flag"}} {
			args := append(append([]string{"--db", "unused.db"}, path...), extra...)
			wantOut, wantErr, wantCode := runTree(NewRootCmd, args)
			gotOut, gotErr, gotCode := runTree(func(f *Factory) *cobra.Command { return newRootCmdFor(f, args) }, args)
			if gotOut != wantOut || gotErr != wantErr || gotCode != wantCode {
				t.Errorf("jobq %s: built alone, it said\n%s%s(exit %d)\nin the whole tree\n%s%s(exit %d)",
					strings.Join(args, " "), gotOut, gotErr, gotCode, wantOut, wantErr, wantCode)
			}
		}
		if i := commandIndex(path); i < 0 || commands[i].name != path[0] {
			t.Errorf("jobq %s is not found in commands", strings.Join(path, " "))
		}
	}
}

// runTree runs args through the tree that build makes, as Run does, and
// returns what it wrote and its exit status.
func runTree(build func(*Factory) *cobra.Command, args []string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	f := &Factory{IO: IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}
	root := build(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(context.Background())
	if err != nil {
		if !f.reachedRun {
			err = &UsageError{Err: err}
		}
		code = reportError(&errOut, cmd, err)
	}
	return out.String(), errOut.String(), code
}

// The tree built for one command has that command alone: the others, and
// cobra's completion command, are not built.
func TestOneCommandTreeBuildsOne(t *testing.T) {
	t.Parallel()
	root := newRootCmdFor(NewFactory(), []string{"enqueue", "true"})
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	if len(names) != 1 || names[0] != "enqueue" {
		t.Errorf("the tree for enqueue has %q, want [enqueue]", names)
	}
	root.SetArgs([]string{"enqueue", "--help"})
	root.SetOut(&bytes.Buffer{})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			t.Error("cobra added its completion command to the tree of one command")
		}
	}
}

// A command without stops keeps SIGINT's default: `jobq enqueue --batch`
// interrupted while it reads its lines ends at once, killed by the signal,
// with nothing written. (When Main caught SIGINT for every command, the
// signal only cancelled a context, and enqueue --batch went on reading.)
// The real binary (this test binary run as "jobq", TestMain), a real pipe
// and a real signal, sent once /proc shows jobq blocked reading the pipe.
func TestSignalEndsQuickCommand(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("finds the read in /proc, Linux's")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "q", "jobq.db")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(self, "--db", db, "enqueue", "--batch")
	c.Args[0] = "jobq" // testscript.Main runs Main for this name
	c.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir)
	c.Stdin = r
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	defer c.Process.Kill()
	if _, err := io.WriteString(w, "true\n"); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(30 * time.Second)
	for !readingStdin(c.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("jobq enqueue --batch was not seen reading its input in 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		ws, ok := c.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("jobq enqueue --batch ended with %v after SIGINT, want killed by it; stderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("jobq enqueue --batch still runs 10 s after SIGINT: the signal was caught")
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the database exists after an interrupted batch (%v): the batch was read and written", err)
	}
}

// readingStdin reports whether a thread of process pid is blocked in
// read(2) on file descriptor 0 (/proc/PID/task/TID/syscall: number, then
// arguments, in hex).
func readingStdin(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 1 && f[0] == strconv.Itoa(syscall.SYS_READ) && f[1] == "0x0" {
			return true
		}
	}
	return false
}
