package gendoc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spf13/cobra"

	"github.com/jobq/jobq/cmd"
)

// The committed completions/ and docs/man/ are what the command tree
// generates now: a change of a command, a flag or a help text that was
// not followed by make generate fails here, not only in make verify.
func TestGeneratedFilesMatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
	if err := Generate(cmd.NewRootCmd(cmd.NewFactory()), man, comp); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{man, "../../docs/man"}, {comp, "../../completions"}} {
		want, got := readDir(t, pair[0]), readDir(t, pair[1])
		for name, body := range want {
			if committed, ok := got[name]; !ok {
				t.Errorf("%s/%s is missing: run make generate", pair[1], name)
			} else if !bytes.Equal(committed, body) {
				t.Errorf("%s/%s is out of date: run make generate", pair[1], name)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s/%s belongs to no command: run make generate", pair[1], name)
			}
		}
	}
	// One page per command, hidden ones aside.
	n := 0
	walk(cmd.NewRootCmd(cmd.NewFactory()), func(c *cobra.Command) {
		if c.IsAvailableCommand() || !c.HasParent() {
			n++
		}
	})
	if pages := len(readDir(t, man)); pages != n {
		t.Errorf("%d man pages for %d commands", pages, n)
	}
}

// Generating twice gives the same bytes: no date or order that changes
// per run.
func TestGeneratedFilesReproducible(t *testing.T) {
	t.Parallel()
	var runs []map[string][]byte
	for range 2 {
		dir := t.TempDir()
		if err := Generate(cmd.NewRootCmd(cmd.NewFactory()), dir, dir); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, readDir(t, dir))
	}
	for name, body := range runs[0] {
		if !bytes.Equal(body, runs[1][name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	// Two runs in one process a second apart would agree on a date taken
	// from time.Now(): the date itself must be the fixed one, written
	// here rather than read from manDate.
	pages := 0
	for name, body := range runs[0] {
		if filepath.Ext(name) != ".1" {
			continue
		}
		pages++
		th, _, _ := bytes.Cut(body[bytes.Index(body, []byte("\n.TH "))+1:], []byte("\n"))
		if f := bytes.Split(th, []byte(`" "`)); len(f) != 5 || string(f[2]) != "2026-11-29" {
			t.Errorf("%s: header %q, want the date \"2026-11-29\"", name, th)
		}
	}
	if pages == 0 {
		t.Error("no man pages generated")
	}
}

// Every man page is clean under mandoc -T lint (which reports errors,
// warnings and style alike).
func TestManPagesLint(t *testing.T) {
	t.Parallel()
	mandoc, err := exec.LookPath("mandoc")
	if err != nil {
		t.Skip("mandoc is not installed (apt-get install mandoc; .ci/run installs it)")
	}
	dir := t.TempDir()
	if err := Generate(cmd.NewRootCmd(cmd.NewFactory()), dir, ""); err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	slices.Sort(pages)
	if len(pages) == 0 {
		t.Fatal("no man pages generated")
	}
	out, err := exec.Command(mandoc, append([]string{"-T", "lint", "-W", "all"}, pages...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("mandoc -T lint: %v\n%s", err, out)
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = body
	}
	return files
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}
