package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// jobJSON is a job as --json prints it: snake_case, times in RFC 3339 UTC,
// null where unset.
type jobJSON struct {
	ID            int64             `json:"id"`
	Queue         string            `json:"queue"`
	State         queue.State       `json:"state"`
	Priority      int               `json:"priority"`
	Command       string            `json:"command"`
	Argv          []string          `json:"argv"`
	Dir           string            `json:"dir"`
	Env           map[string]string `json:"env"`
	Attempts      int               `json:"attempts"`
	MaxAttempts   int               `json:"max_attempts"`
	Timeout       *string           `json:"timeout"`
	Backoff       string            `json:"backoff"`
	MaxBackoff    string            `json:"max_backoff"`
	PermanentExit []int             `json:"permanent_exit"`
	UniqueKey     *string           `json:"unique_key"`
	DependsOn     []int64           `json:"depends_on"`
	RunAt         *time.Time        `json:"run_at"`
	CreatedAt     *time.Time        `json:"created_at"`
	StartedAt     *time.Time        `json:"started_at"`
	FinishedAt    *time.Time        `json:"finished_at"`
	ExitCode      *int              `json:"exit_code"`
	Signal        *string           `json:"signal"`
	LastError     *string           `json:"last_error"`
	Worker        *string           `json:"worker"`
	Progress      *progressJSON     `json:"progress"`
	History       []attemptJSON     `json:"history,omitempty"`
}

type progressJSON struct {
	Percent   float64    `json:"percent"`
	Message   *string    `json:"message"`
	UpdatedAt *time.Time `json:"updated_at"`
}

type attemptJSON struct {
	Attempt    int        `json:"attempt"`
	Worker     string     `json:"worker"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	ExitCode   *int       `json:"exit_code"`
	Signal     *string    `json:"signal"`
	Error      *string    `json:"error"`
	Output     string     `json:"output"`
}

func newJobJSON(j *queue.Job, now time.Time) jobJSON {
	out := jobJSON{
		ID: j.ID, Queue: j.Queue, State: j.StateAt(now), Priority: j.Priority,
		Command: j.Command, Argv: j.Argv, Dir: j.Dir, Attempts: j.Attempts,
		MaxAttempts: j.MaxAttempts, Backoff: formatDuration(j.Backoff), MaxBackoff: formatDuration(j.MaxBackoff),
		PermanentExit: j.PermanentExit, UniqueKey: optString(j.UniqueKey),
		RunAt: optTime(j.RunAt), CreatedAt: optTime(j.CreatedAt), StartedAt: optTime(j.StartedAt),
		FinishedAt: optTime(j.FinishedAt), ExitCode: j.ExitCode, Signal: optString(j.Signal),
		LastError: optString(j.LastError), Worker: optString(j.Worker),
	}
	if p := j.Progress; p != nil {
		out.Progress = &progressJSON{Percent: p.Percent, Message: optString(p.Message), UpdatedAt: optTime(p.At)}
	}
	if out.PermanentExit == nil {
		out.PermanentExit = []int{}
	}
	if out.DependsOn = j.DependsOn; out.DependsOn == nil {
		out.DependsOn = []int64{}
	}
	if j.Timeout > 0 {
		out.Timeout = optString(formatDuration(j.Timeout))
	}
	if len(j.Env) > 0 {
		out.Env = make(map[string]string, len(j.Env))
		for _, kv := range j.Env {
			k, v, _ := strings.Cut(kv, "=")
			out.Env[k] = v
		}
	}
	return out
}

func newAttemptJSON(a queue.Attempt) attemptJSON {
	return attemptJSON{
		Attempt: a.Attempt, Worker: a.Worker,
		StartedAt: optTime(a.StartedAt), FinishedAt: optTime(a.FinishedAt),
		ExitCode: a.ExitCode, Signal: optString(a.Signal), Error: optString(a.Error),
		Output: string(a.Output),
	}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatTime shows t relative to now on a terminal ("3m ago", "in 5m") and
// exactly otherwise, so that piped output stays stable and parseable.
func formatTime(t, now time.Time, terminal bool) string {
	if t.IsZero() {
		return "-"
	}
	if !terminal {
		return t.Local().Format(time.RFC3339)
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughDuration(-d)
	}
	return roughDuration(d) + " ago"
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
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

// formatPercent writes a reported percent as users wrote it: 40%, 62.5%.
func formatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// truncate shortens s to n runes on one line.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

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

// formatDuration writes d as users write it: 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
