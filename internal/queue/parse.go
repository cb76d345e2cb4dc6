package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseDuration reads a duration as users write them: Go's units (ms, s, m,
// h, ...) and also d (24h) and w (7d), combined as in "1d12h". It refuses
// negative and empty durations.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 1h30m, 2d, 1w)", s)
	if s == "0" {
		return 0, nil
	}
	if s == "" || !utf8.ValidString(s) {
		return 0, bad
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, bad
		}
		j := strings.IndexFunc(rest[i:], func(r rune) bool { return r >= '0' && r <= '9' || r == '.' })
		if j < 0 {
			j = len(rest) - i
		}
		num, unit := rest[:i], rest[i:i+j]
		rest = rest[i+j:]
		scale := time.Duration(1)
		switch unit {
		case "d":
			unit, scale = "h", 24
		case "w":
			unit, scale = "h", 24*7
		}
		d, err := time.ParseDuration(num + unit)
		if err != nil || d < 0 || d > (1<<63-1)/scale {
			return 0, bad
		}
		d *= scale
		if total > (1<<63-1)-d {
			return 0, bad
		}
		total += d
	}
	return total, nil
}

// ParseTime reads an instant: RFC 3339, "YYYY-MM-DD HH:MM[:SS]" in now's
// location, or "HH:MM", the next time the clock shows it after now.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	loc := now.Location()
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if len(s) == 5 {
		if c, err := time.ParseInLocation("15:04", s, loc); err == nil {
			y, m, d := now.Date()
			t := time.Date(y, m, d, c.Hour(), c.Minute(), 0, 0, loc)
			if !t.After(now) {
				t = time.Date(y, m, d+1, c.Hour(), c.Minute(), 0, 0, loc)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q (use RFC 3339, YYYY-MM-DD HH:MM[:SS] or HH:MM)", s)
}

// ParsePast reads a moment in the past as --since takes it: a duration
// ago ("2h", "1d"), "HH:MM" for the last time the clock showed it, or an
// instant as ParseTime reads it.
func ParsePast(s string, now time.Time) (time.Time, error) {
	if d, err := ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if len(s) == 5 {
		if t, err := ParseTime(s, now); err == nil {
			return t.AddDate(0, 0, -1), nil // the next time it shows, a day back
		}
	}
	if t, err := ParseTime(s, now); err == nil && len(s) != 5 {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q (use a duration ago such as 2h or 1d, HH:MM, YYYY-MM-DD HH:MM[:SS] or RFC 3339)", s)
}

// ParsePercent reads the percent jobq progress reports: a number from 0 to
// 100, such as 40 or 62.5, with or without a % sign.
func ParsePercent(s string) (float64, error) {
	bad := fmt.Errorf("invalid percent %q (a number from 0 to 100, such as 40 or 62.5)", s)
	num := strings.TrimSuffix(s, "%")
	digits, dots := 0, 0
	for i := 0; i < len(num); i++ {
		switch c := num[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, bad
		}
	}
	if digits == 0 || dots > 1 || digits > 10 {
		return 0, bad
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || p > 100 {
		return 0, bad
	}
	return p, nil
}

// ValidateText checks free text a job or schedule keeps (a unique key, a
// progress message, a description), which what names it: valid UTF-8 and
// no NUL byte, as PostgreSQL's text holds (SQLite would keep either, and
// a queue could not then be copied to PostgreSQL).
func ValidateText(what, s string) error {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("the %s contains a NUL byte", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("the %s is not valid UTF-8", what)
	}
	return nil
}

// ValidateQueue checks a queue name: a letter or digit, then up to 63
// letters, digits or _.:- (written out rather than as a regexp, whose
// compilation would add to the start-up of every jobq process).
func ValidateQueue(name string) error { return validateName("queue", name) }

// validateName checks the name of a queue or a schedule.
func validateName(kind, name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && strings.IndexByte("_.:-", c) >= 0
	}
	if !ok {
		return fmt.Errorf("invalid %s name %q (letters, digits and _.:- only, at most 64, starting with a letter or digit)", kind, name)
	}
	return nil
}

// ParseExitCodes reads a list of exit codes such as "3,64-78".
func ParseExitCodes(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var codes []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := parseExitCode(lo)
		b, errB := a, errA
		if isRange {
			b, errB = parseExitCode(hi)
		}
		if errA != nil || errB != nil || a > b {
			return nil, fmt.Errorf("invalid exit codes %q (use e.g. 3,64-78; each 1 to 255)", s)
		}
		for c := a; c <= b; c++ {
			codes = append(codes, c)
		}
	}
	return codes, nil
}

func parseExitCode(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 255 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("invalid exit code %q", s)
	}
	return n, nil
}

// FormatExitCodes is the inverse of ParseExitCodes, ranges written out.
func FormatExitCodes(codes []int) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// ParseStates reads a comma-separated list of state names.
func ParseStates(s string) ([]State, error) {
	var states []State
	for _, name := range strings.Split(s, ",") {
		st := State(name)
		if !st.Valid() {
			return nil, fmt.Errorf("invalid state %q (one of %s)", name, joinStates(States))
		}
		states = append(states, st)
	}
	return states, nil
}

func joinStates(states []State) string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// ParseRate reads a rate limit N/PERIOD such as 10/m, 5/s or 100/1h: N
// jobs started per PERIOD, which is a unit (s, m, h, d) or a duration.
func ParseRate(s string) (n int, period time.Duration, err error) {
	bad := fmt.Errorf("invalid rate %q (use N/PERIOD, e.g. 10/m, 5/s, 100/1h)", s)
	num, per, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, bad
	}
	n, err = strconv.Atoi(num)
	if err != nil || n < 1 || strconv.Itoa(n) != num {
		return 0, 0, bad
	}
	if per != "" && strings.IndexFunc(per[:1], func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
		per = "1" + per // "m" is one minute
	}
	period, err = ParseDuration(per)
	if err != nil || period < time.Millisecond {
		return 0, 0, bad
	}
	return n, period, nil
}

// ParseIDs reads a comma-separated list of job IDs, such as --after 3,4.
func ParseIDs(s string) ([]int64, error) {
	var ids []int64
	for _, part := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("invalid job ID %q", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
