// Package gendoc writes the files generated from the command tree: shell
// completions and man pages, committed in completions/ and docs/man/
// (make generate; make verify and TestGeneratedFilesMatch check that they
// are up to date).
//
// It is not part of the jobq binary but of tools/generate: cobra/doc
// brings a Markdown parser whose package initialisation alone would cost
// every jobq process, an enqueue from cron included, about 1.5 ms.
package gendoc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manDate is the date in every man page's header. It is fixed, so that
// the pages are the same whoever generates them and whenever: a build
// does not change them, only a change of the command tree does.
var manDate = time.Date(2026, time.November, 29, 0, 0, 0, 0, time.UTC)

// completionFiles names each shell's script in completions/, as the
// shells look for them (zsh: an underscore and the command's name).
var completionFiles = map[string]func(*cobra.Command, *bytes.Buffer) error{
	"jobq.bash": func(c *cobra.Command, b *bytes.Buffer) error { return c.GenBashCompletionV2(b, true) },
	"_jobq":     func(c *cobra.Command, b *bytes.Buffer) error { return c.GenZshCompletion(b) },
	"jobq.fish": func(c *cobra.Command, b *bytes.Buffer) error { return c.GenFishCompletion(b, true) },
	"jobq.ps1":  func(c *cobra.Command, b *bytes.Buffer) error { return c.GenPowerShellCompletionWithDesc(b) },
}

// Generate writes the man pages into manDir and the completion
// scripts into completionDir; an empty name skips that kind. Files of
// commands that no longer exist are removed from manDir.
func Generate(root *cobra.Command, manDir, completionDir string) error {
	if completionDir != "" {
		if err := os.MkdirAll(completionDir, 0o755); err != nil {
			return err
		}
		for name, gen := range completionFiles {
			var b bytes.Buffer
			if err := gen(root, &b); err != nil {
				return fmt.Errorf("completion %s: %w", name, err)
			}
			if err := os.WriteFile(filepath.Join(completionDir, name), b.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	if manDir != "" {
		if err := os.MkdirAll(manDir, 0o755); err != nil {
			return err
		}
		old, err := filepath.Glob(filepath.Join(manDir, "*.1"))
		if err != nil {
			return err
		}
		for _, p := range old {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		// No "Auto generated ... on DATE" section: it would date each page.
		root.DisableAutoGenTag = true
		if err := writeManPages(root, manDir); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
	}
	return nil
}

// writeManPages writes a page for c and each command under it, as
// doc.GenManTree names them (jobq-queue-pause.1), each made clean for
// mandoc -T lint by fixManPage.
func writeManPages(c *cobra.Command, dir string) error {
	if !c.IsAvailableCommand() && c.HasParent() || c.IsAdditionalHelpTopicCommand() {
		return nil
	}
	for _, sub := range c.Commands() {
		if err := writeManPages(sub, dir); err != nil {
			return err
		}
	}
	date := manDate
	header := &doc.GenManHeader{Title: strings.ToUpper(strings.ReplaceAll(c.CommandPath(), " ", "-")), Section: "1",
		Date: &date, Source: "jobq", Manual: "jobq manual"}
	var b bytes.Buffer
	if err := doc.GenMan(c, header, &b); err != nil {
		return err
	}
	name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
	return os.WriteFile(filepath.Join(dir, name), fixManPage(b.Bytes()), 0o644)
}

// manLineMax is the longest text line mandoc -T lint accepts without a
// style message.
const manLineMax = 80

// fixManPage makes what cobra/doc writes clean for mandoc -T lint: the
// date in the form man pages use (2026-11-29, where cobra writes "Nov
// 2026"), each option as a tagged paragraph (.TP) rather than a tab in
// filled text, and text lines no longer than 80 bytes (filled text is
// reflowed by the formatter, so breaking a line at a space changes
// nothing a reader sees).
func fixManPage(page []byte) []byte {
	lines := strings.Split(string(page), "\n")
	var out []string
	noFill := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, ".TH "):
			if f := strings.Split(l, `" "`); len(f) == 5 {
				f[2] = manDate.Format("2006-01-02")
				l = strings.Join(f, `" "`)
			}
		case l == ".EX" || l == ".nf":
			noFill = true
		case l == ".EE" || l == ".fi":
			noFill = false
		case i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") && strings.HasPrefix(l, `\fB`):
			// An option: its name, then its help after a tab.
			if n := len(out); n > 0 && out[n-1] == ".PP" {
				out = out[:n-1]
			}
			out = append(out, ".TP", l)
			l = strings.TrimPrefix(lines[i+1], "\t")
			i++
		}
		if noFill || strings.HasPrefix(l, ".") || len(l) <= manLineMax {
			out = append(out, l)
			continue
		}
		out = append(out, wrapManLine(l)...)
	}
	return []byte(strings.Join(out, "\n"))
}

// wrapManLine breaks a line of filled text at spaces into lines of at most
// manLineMax bytes where it can; no line may start with a control
// character (. or '), so such a word is escaped with \&.
func wrapManLine(l string) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(l) {
		if line != "" && len(line)+1+len(w) > manLineMax {
			out = append(out, line)
			line = ""
		}
		if line == "" {
			if strings.HasPrefix(w, ".") || strings.HasPrefix(w, "'") {
				w = `\&` + w
			}
			line = w
		} else {
			line += " " + w
		}
	}
	return append(out, line)
}
