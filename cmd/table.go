// Tables, as every command prints them: aligned columns without borders,
// rendered by tablewriter.

package cmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/term"

	"github.com/jobq/jobq/internal/queue"
)

// columnGap is the space between two columns.
const columnGap = "  "

// writeTable prints rows under header as aligned columns without borders
// or colour, like ps or docker ps, with no spaces at the end of a line.
// Columns are aligned by display width: a CJK character or an emoji takes
// two columns of the terminal, as it does on screen. Every table goes
// through here, so that all of them behave alike:
//
//   - on a terminal (w is one, or says its width: terminalWidth), the
//     widest cells (commands, errors) are cut with an ellipsis so that a
//     line fits the terminal;
//   - piped, nothing is cut: a script gets every cell whole, one row a
//     line, whatever its width.
//
// A cell is kept to one line: line breaks, tabs and other control
// characters become spaces.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	cells := make([][]string, 0, len(rows)+1)
	for _, row := range append([][]string{header}, rows...) {
		clean := make([]string, len(header))
		for i := range clean {
			if i < len(row) {
				clean[i] = oneLineCell(row[i])
			}
		}
		cells = append(cells, clean)
	}
	var b bytes.Buffer
	pad := tw.CellPadding{Global: tw.Padding{Right: columnGap, Overwrite: true}}
	format := tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone, Alignment: tw.AlignLeft}
	t := tablewriter.NewTable(&b,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{Formatting: format, Padding: pad},
			Row:    tw.CellConfig{Formatting: format, Padding: pad},
		}),
		// Widths must not depend on the locale of whoever runs jobq:
		// piped output is the same for every user.
		tablewriter.WithEastAsian(false),
		tablewriter.WithTrimSpace(tw.Off),
	)
	// After NewTable, which set twwidth's East Asian mode for both.
	if width := terminalWidth(w); width > 0 {
		fitWidth(cells, width)
	}
	t.Header(cells[0])
	if err := t.Bulk(cells[1:]); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	var out bytes.Buffer
	for line := range bytes.Lines(b.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

// oneLineCell replaces what would break a row (line breaks, tabs, escape
// sequences) with spaces.
func oneLineCell(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// minCut is the narrowest a column is cut to: below that a cell says
// nothing.
const minCut = 12

// fitWidth cuts cells so that a line of the table is at most width
// columns: the widest column is cut first, one column at a time, never
// below its header or minCut. A table that still does not fit is left
// wider than the terminal, which wraps it.
func fitWidth(cells [][]string, width int) {
	n := len(cells[0])
	widths := make([]int, n)
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], twwidth.Width(c))
		}
	}
	floor := make([]int, n)
	for i, h := range cells[0] {
		floor[i] = min(widths[i], max(twwidth.Width(h), minCut))
	}
	total := func() int {
		t := len(columnGap) * (n - 1)
		for _, w := range widths {
			t += w
		}
		return t
	}
	for excess := total() - width; excess > 0; excess = total() - width {
		widest := -1
		for i := range widths {
			if widths[i] > floor[i] && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		// Cut the widest down to the next widest (or just enough), so
		// that wide columns share the cut.
		next := floor[widest]
		for i, w := range widths {
			if i != widest && w < widths[widest] && w > next {
				next = w
			}
		}
		widths[widest] = max(next, widths[widest]-excess, floor[widest])
	}
	for _, row := range cells[1:] {
		for i, c := range row {
			if twwidth.Width(c) > widths[i] {
				row[i] = twwidth.Truncate(c, widths[i], "…")
			}
		}
	}
}

// terminalSizer is an output that knows its terminal's width (a test's
// stand-in for a terminal, or a buffer headed for one).
type terminalSizer interface{ TerminalWidth() int }

// terminalWidth is the width of the terminal w writes to, or 0 when w is
// not a terminal (a pipe, a file, a buffer).
func terminalWidth(w io.Writer) int {
	switch w := w.(type) {
	case terminalSizer:
		return w.TerminalWidth()
	case *os.File:
		if width, _, err := term.GetSize(int(w.Fd())); err == nil {
			return width
		}
	}
	return 0
}

// sizedWriter is a writer (a buffer) whose table is headed for a terminal
// of Width columns; 0 for none.
type sizedWriter struct {
	io.Writer
	Width int
}

func (s sizedWriter) TerminalWidth() int { return s.Width }

// truncate shortens s to n runes on one line.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// exitText is how an attempt ended, for a table: its exit code, or the
// signal that killed it, or "-".
func exitText(code *int, signal string) string {
	switch {
	case code != nil:
		return strconv.Itoa(*code)
	case signal != "":
		return signal
	}
	return "-"
}

// stateText is a job's state for a table, with the progress a running job
// reported: "running 40%".
func stateText(j *queue.Job, now time.Time) string {
	st := string(j.StateAt(now))
	if j.State == queue.StateRunning && j.Progress != nil {
		st += " " + formatPercent(j.Progress.Percent)
	}
	return st
}

// commandText is a job's command in a table, marked when its row cannot
// be read (queue.Job.Unreadable): what is shown of it may be wrong.
func commandText(j *queue.Job) string {
	if j.Unreadable != "" {
		return strings.TrimSpace("(cannot be read: see jobq show) " + j.Command)
	}
	return j.Command
}

// writeJobTable prints jobs as list does: when the filter asks for final
// states only (the dead-letter list), why each job ended; otherwise where
// each one is.
func writeJobTable(io IOStreams, jobs []*queue.Job, filter queue.JobFilter) error {
	now, term := filter.Now, io.IsTerminal
	ended := len(filter.States) > 0 && !slices.ContainsFunc(filter.States, func(s queue.State) bool { return !s.Final() })
	if ended {
		rows := make([][]string, len(jobs))
		for i, j := range jobs {
			rows[i] = []string{
				strconv.FormatInt(j.ID, 10), j.Queue, string(j.StateAt(now)),
				fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts), exitText(j.ExitCode, j.Signal),
				formatTime(j.FinishedAt, now, term), commandText(j), j.LastError, orDash(j.LastOutput),
			}
		}
		// The last line of output is usually why a job died ("535 5.7.8
		// Authentication credentials invalid"): shown here, it saves a
		// jobq show per job when triaging.
		return writeTable(io.Out, []string{"ID", "QUEUE", "STATE", "ATTEMPTS", "EXIT", "ENDED", "COMMAND", "LAST ERROR", "LAST OUTPUT"}, rows)
	}
	rows := make([][]string, len(jobs))
	for i, j := range jobs {
		rows[i] = []string{
			strconv.FormatInt(j.ID, 10), j.Queue, stateText(j, now),
			strconv.Itoa(j.Priority), fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts),
			formatTime(j.CreatedAt, now, term), commandText(j), j.LastError,
		}
	}
	return writeTable(io.Out, []string{"ID", "QUEUE", "STATE", "PRI", "ATTEMPTS", "CREATED", "COMMAND", "LAST ERROR"}, rows)
}
