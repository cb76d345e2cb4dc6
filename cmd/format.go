package cmd

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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

// formatPercent writes a reported percent as users wrote it: 40%, 62.5%.
func formatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
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

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// orDash is s for a table cell, "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
