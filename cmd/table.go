// Tables, as every command prints them: aligned columns without borders.

package cmd

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// writeTable prints rows under header as aligned columns without borders,
// like ps or docker ps, with no spaces at the end of a line (an empty last
// cell would leave them).
func writeTable(w io.Writer, header []string, rows [][]string) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
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
				formatTime(j.FinishedAt, now, term), truncate(j.Command, 40), truncate(j.LastError, 30),
				orDash(truncate(j.LastOutput, 60)),
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
			formatTime(j.CreatedAt, now, term), truncate(j.Command, 40), truncate(j.LastError, 40),
		}
	}
	return writeTable(io.Out, []string{"ID", "QUEUE", "STATE", "PRI", "ATTEMPTS", "CREATED", "COMMAND", "LAST ERROR"}, rows)
}
