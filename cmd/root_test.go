package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
