// Package cron reads cron expressions and says when they next fire, in a
// time zone, by the daylight-saving rules of SPEC.md. It keeps
// github.com/robfig/cron/v3, a well-kept parser, out of the domain: package
// queue imports this small package rather than the parser, so that what
// queue depends on beyond the standard library is one file's worth of
// rules that jobq owns and tests.
//
// robfig's schedules are used for the calendar alone: a five-field
// expression is evaluated on the wall clock (in UTC, which has no daylight
// saving) and each wall time it gives is then placed in the zone here,
// where the rules for the times daylight saving skips or repeats are
// jobq's, not the parser's.
package cron

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	robfig "github.com/robfig/cron/v3"
)

// parser reads the five standard fields and the descriptors @hourly ..
// @yearly and @every DURATION.
var parser = robfig.NewParser(robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)

// Schedule is a parsed cron expression.
type Schedule struct {
	spec  robfig.Schedule
	every time.Duration // @every: real time between ticks; 0 otherwise
}

// Parse reads a cron expression: five fields (minute hour day-of-month
// month day-of-week), @hourly, @daily (@midnight), @weekly, @monthly,
// @yearly (@annually) or @every DURATION (at least one second, whole
// seconds). @reboot and a CRON_TZ= or TZ= prefix are refused: jobq has no
// boot to run at, and the zone is --tz.
func Parse(expr string) (*Schedule, error) {
	e := strings.TrimSpace(expr)
	switch {
	case e == "":
		return nil, errors.New("empty cron expression")
	case strings.HasPrefix(e, "@reboot"):
		return nil, errors.New("@reboot: jobq runs schedules by the clock, not at boot (a systemd unit with WantedBy=multi-user.target runs a command at boot)")
	case strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ="):
		return nil, errors.New("give the time zone with --tz, not in the expression")
	}
	spec, err := parser.Parse(sundaySeven(e))
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %w", expr, err)
	}
	s := &Schedule{spec: spec}
	if _, ok := spec.(robfig.ConstantDelaySchedule); ok {
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(e, "@every")))
		if err != nil {
			return nil, fmt.Errorf("cron expression %q: %w", expr, err)
		}
		return Every(d)
	} else if next := spec.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); next.IsZero() {
		// robfig returns the zero time for a date that never comes
		// ("0 0 30 2 *"): refuse it rather than never fire.
		return nil, fmt.Errorf("cron expression %q never fires", expr)
	}
	return s, nil
}

// sundaySeven rewrites a day of week 7 in the fifth field of a
// five-field expression as 0: Debian's and cronie's cron take 0 or 7 for
// Sunday (crontab(5)), robfig only 0, and one "0 1 * * 7" would make a
// whole crontab's import fail. A range or step that ends at 7 becomes the
// list of the days it names ("5-7" is "5,6,0"; "1-7/2" is "1,3,5,0"), so
// it means what cron means. Anything else is left as it is, for the
// parser to accept or refuse.
func sundaySeven(expr string) string {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return expr
	}
	parts := strings.Split(fields[4], ",")
	for i, part := range parts {
		parts[i] = sundaySevenPart(part)
	}
	fields[4] = strings.Join(parts, ",")
	return strings.Join(fields, " ")
}

// sundaySevenPart rewrites one element of a day-of-week list: N, A-B,
// N/S or A-B/S, where a bound is a number or a day's name.
func sundaySevenPart(part string) string {
	rng, step := part, 1
	if i := strings.IndexByte(part, '/'); i >= 0 {
		s, err := strconv.Atoi(part[i+1:])
		if err != nil || s <= 0 {
			return part
		}
		rng, step = part[:i], s
	}
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		hi = lo
	}
	a, okA := weekday(lo)
	b, okB := weekday(hi)
	if !okA || !okB || (a != 7 && b != 7) || a > b {
		return part
	}
	var days []string
	seen := map[int]bool{}
	for d := a; d <= b; d += step {
		day := d % 7 // 7 is Sunday; "0-7" names it once
		if !seen[day] {
			seen[day] = true
			days = append(days, strconv.Itoa(day))
		}
	}
	return strings.Join(days, ",")
}

// weekday reads a day-of-week bound: 0 to 7, or sun .. sat.
func weekday(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n <= 7
	}
	for i, name := range []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} {
		if strings.EqualFold(s, name) {
			return i, true
		}
	}
	return 0, false
}

// Every returns the schedule of @every d: whole seconds, at least one.
// It is for callers that read the duration themselves: package queue
// reads it with its own units (d, w), which time.ParseDuration lacks.
func Every(d time.Duration) (*Schedule, error) {
	if d < time.Second || d%time.Second != 0 {
		return nil, fmt.Errorf("@every %v: @every takes whole seconds, at least 1s", d)
	}
	return &Schedule{spec: robfig.Every(d), every: d}, nil
}

// Every is the period of an @every schedule, 0 for a calendar one.
func (s *Schedule) Every() time.Duration { return s.every }

// Next returns the first tick strictly after t, in loc; the zero time if
// there is none.
//
// @every counts real time: t plus the period. A calendar expression is
// read on the wall clock of loc:
//   - a wall time that loc skips (spring forward: 02:30 on that night)
//     fires once, at the end of the gap (03:00), however many of the
//     expression's times fall in it;
//   - a wall time that loc repeats (fall back: 01:30 twice) fires once,
//     at its first occurrence.
//
// This is what cronie does for fixed times.
func (s *Schedule) Next(t time.Time, loc *time.Location) time.Time {
	if s.every > 0 {
		return t.Add(s.every)
	}
	wall := wallClock(t.In(loc))
	for range 1000 { // a repeated hour skips at most a few ticks
		wall = s.spec.Next(wall)
		if wall.IsZero() {
			return time.Time{}
		}
		at := placeWall(wall, loc)
		if at.After(t) {
			return at
		}
		// A wall time repeated by a fall back whose first occurrence was
		// t or before: it fired then.
	}
	return time.Time{}
}

// wallClock is the wall time of t as the same clock reading in UTC.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// placeWall returns the instant at which loc's clock reads wall (a clock
// reading given in UTC): its first occurrence when loc repeats it, the end
// of the gap when loc skips it.
func placeWall(wall time.Time, loc *time.Location) time.Time {
	at := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	if wallClock(at).Equal(wall) {
		// An earlier occurrence exists when the zone before at's gives
		// the same reading at an earlier instant.
		if start, _ := at.ZoneBounds(); !start.IsZero() {
			_, before := start.Add(-time.Nanosecond).Zone()
			earlier := wall.Add(-time.Duration(before) * time.Second)
			if earlier.Before(start) && wallClock(earlier.In(loc)).Equal(wall) {
				return earlier.In(loc)
			}
		}
		return at
	}
	// In a gap: Go placed it by one of the two offsets, on either side.
	start, end := at.ZoneBounds()
	if wallClock(at).After(wall) {
		return start
	}
	return end
}
