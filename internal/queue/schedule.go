package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jobq/jobq/internal/cron"
)

// ErrExists: a schedule of that name exists already.
var ErrExists = errors.New("already exists")

// Overlap says what a tick does while the schedule's previous job has not
// ended.
type Overlap string

// The overlap policies of jobq schedule add --overlap.
const (
	OverlapSkip    Overlap = "skip"    // no job for this tick; an event says so
	OverlapAllow   Overlap = "allow"   // a job all the same
	OverlapReplace Overlap = "replace" // cancel the previous job, then a job
)

// ParseOverlap reads an --overlap value.
func ParseOverlap(s string) (Overlap, error) {
	switch o := Overlap(s); o {
	case OverlapSkip, OverlapAllow, OverlapReplace:
		return o, nil
	}
	return "", fmt.Errorf("invalid overlap %q (use skip, allow or replace)", s)
}

// Schedule makes a job at every tick of a cron expression.
type Schedule struct {
	ID          int64
	Name        string
	Expr        string        // as given: five fields, @daily, @every 1h, ...
	Zone        string        // IANA name; empty: local time
	Overlap     Overlap       //
	Jitter      time.Duration // each tick fires at random up to this late
	Description string        // a crontab's comment above the line
	Paused      bool
	// Job is what each tick enqueues: queue, priority, command and argv,
	// dir, env, max attempts, timeout, backoff, permanent exit codes.
	Job JobInsertParams
	// NextAt is the next tick; DueAt is when it fires (NextAt plus its
	// jitter). Firing moves NextAt forward, compared and set in the
	// transaction that enqueues the tick's job: that makes it once.
	NextAt    time.Time
	DueAt     time.Time
	CreatedAt time.Time

	// Filled in by ScheduleGet and ScheduleList: the newest job it made
	// (nil when none is left), when one last succeeded, and how many of
	// its jobs ended dead in a row since (in the order they ended). The
	// last two are kept by the store as the jobs end, and outlive the
	// jobs deleted since (retention): an alert on them must not fire
	// because a week-old success was deleted.
	LastJob     *Job
	LastSuccess time.Time
	Failures    int
}

// ValidateScheduleName checks a schedule's name: the rules of a queue name.
func ValidateScheduleName(name string) error {
	return validateName("schedule", name)
}

// Timing is a schedule's expression, parsed, in its time zone.
type Timing struct {
	cron *cron.Schedule
	loc  *time.Location
}

// ParseTiming reads a cron expression and an IANA zone (empty: local).
func ParseTiming(expr, zone string) (*Timing, error) {
	c, err := parseCron(expr)
	if err != nil {
		return nil, err
	}
	loc := time.Local
	if zone != "" {
		if loc, err = time.LoadLocation(zone); err != nil || zone == "Local" {
			return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin or UTC)", zone)
		}
	}
	return &Timing{cron: c, loc: loc}, nil
}

// parseCron reads a cron expression. The duration of @every is read here,
// with ParseDuration, so that it takes d and w as every jobq duration does
// (SPEC "Times"); package cron cannot call ParseDuration, since queue
// imports cron, and a second copy of the parser would drift.
func parseCron(expr string) (*cron.Schedule, error) {
	e := strings.TrimSpace(expr)
	rest, ok := strings.CutPrefix(e, "@every")
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return cron.Parse(expr)
	}
	d, err := ParseDuration(strings.TrimSpace(rest))
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %w", expr, err)
	}
	c, err := cron.Every(d)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: @every takes whole seconds, at least 1s", expr)
	}
	return c, nil
}

// Location is the zone ticks are read in.
func (t *Timing) Location() *time.Location { return t.loc }

// Next is the first tick strictly after after; zero when none comes.
func (t *Timing) Next(after time.Time) time.Time { return t.cron.Next(after, t.loc) }

// gapTicks is how many ticks shortestGap looks at, from gapFrom: enough
// for the shape of a week or a year's months ("0 0 * * 1,2", "0 0 1 * *"
// meets February), and fixed, so that whether a jitter is accepted does
// not depend on the day it is given. January has no daylight-saving
// change in any zone, so the gaps are the expression's own.
const gapTicks = 10

var gapFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// shortestGap is the shortest time between two of a calendar
// expression's ticks, among the gapTicks after gapFrom (as read in its
// zone); 0 for @every, whose period is its gap.
func (t *Timing) shortestGap() time.Duration {
	if t.cron.Every() > 0 {
		return 0
	}
	shortest, _ := t.gaps()
	return shortest
}

// Period is the longest time between two ticks: @every's duration, or,
// for a calendar expression, the longest gap among the gapTicks after
// gapFrom (a weekday schedule's weekend, a monthly one's 31 days). An
// alert on a schedule that has not succeeded for twice its period
// (docs/monitoring.md) takes it, so that a weekend is no outage.
func (t *Timing) Period() time.Duration {
	if every := t.cron.Every(); every > 0 {
		return every
	}
	_, longest := t.gaps()
	return longest
}

// gaps is the shortest and the longest time between two of a calendar
// expression's ticks, among the gapTicks after gapFrom.
func (t *Timing) gaps() (shortest, longest time.Duration) {
	from := time.Date(gapFrom.Year(), gapFrom.Month(), gapFrom.Day(), 0, 0, 0, 0, t.loc)
	prev := t.Next(from)
	for range gapTicks - 1 {
		next := t.Next(prev)
		if prev.IsZero() || next.IsZero() {
			break
		}
		d := next.Sub(prev)
		if shortest == 0 || d < shortest {
			shortest = d
		}
		longest = max(longest, d)
		prev = next
	}
	return shortest, longest
}

// Validate checks what jobq schedule add is given.
func (s *Schedule) Validate() error {
	if err := ValidateScheduleName(s.Name); err != nil {
		return err
	}
	if _, err := ParseOverlap(string(s.Overlap)); err != nil {
		return err
	}
	t, err := ParseTiming(s.Expr, s.Zone)
	if err != nil {
		return err
	}
	if s.Jitter < 0 {
		return errors.New("jitter must not be negative")
	}
	if every := t.cron.Every(); every > 0 && s.Jitter >= every {
		return fmt.Errorf("jitter %v is not shorter than the period %v: ticks would pile up", s.Jitter, every)
	}
	if gap := t.shortestGap(); gap > 0 && s.Jitter >= gap {
		return fmt.Errorf("jitter %v is not shorter than %v, the shortest time between two ticks of %q: ticks would be missed", s.Jitter, gap, s.Expr)
	}
	return s.Job.Validate()
}

// Plan sets the first tick of a new (or resumed) schedule: the first
// after now.
func (s *Schedule) Plan(now time.Time, jitter float64) error {
	t, err := ParseTiming(s.Expr, s.Zone)
	if err != nil {
		return err
	}
	s.NextAt = t.Next(now)
	if s.NextAt.IsZero() {
		return fmt.Errorf("cron expression %q never fires", s.Expr)
	}
	s.DueAt = s.NextAt.Add(jitterDelay(s.Jitter, jitter))
	return nil
}

// jitterDelay is the delay of one tick: in [0, max), from r in [0, 1).
func jitterDelay(max time.Duration, r float64) time.Duration {
	if max <= 0 {
		return 0
	}
	return min(time.Duration(r*float64(max)), max)
}

// maxCatchUp bounds the ticks Fire steps over after downtime; past it the
// next tick is counted from now.
const maxCatchUp = 100_000

// FirePlan is what firing a due schedule at some moment does.
type FirePlan struct {
	// Tick is the tick the job stands for: the latest that came at or
	// before now; Missed counts the earlier ones it stands for too (after
	// downtime: one job for them all, as systemd's Persistent=true).
	Tick   time.Time
	Missed int
	// Next and Due are the schedule's next tick and when it fires.
	Next, Due time.Time
}

// Fire plans the firing of s, due at now (its DueAt has come), with jitter
// in [0, 1) for the next tick's delay.
func (s *Schedule) Fire(now time.Time, jitter float64) (FirePlan, error) {
	t, err := ParseTiming(s.Expr, s.Zone)
	if err != nil {
		return FirePlan{}, err
	}
	p := FirePlan{Tick: s.NextAt}
	if every := t.cron.Every(); every > 0 {
		// Real time: the ticks stay on the grid of the first one.
		if now.After(p.Tick) {
			p.Missed = int(now.Sub(p.Tick) / every)
			p.Tick = p.Tick.Add(time.Duration(p.Missed) * every)
		}
		p.Next = p.Tick.Add(every)
	} else {
		for p.Next = t.Next(p.Tick); !p.Next.IsZero() && !p.Next.After(now); p.Next = t.Next(p.Tick) {
			p.Tick = p.Next
			if p.Missed++; p.Missed == maxCatchUp {
				p.Next = t.Next(now)
				break
			}
		}
	}
	if p.Next.IsZero() {
		// No tick ever again ("0 0 30 2 *" is refused, but a schedule
		// whose last year has passed would come here): never due.
		p.Next = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	p.Due = p.Next.Add(jitterDelay(s.Jitter, jitter))
	return p, nil
}

// FireAction is what a tick does, by the overlap policy and the
// schedule's previous job.
type FireAction int

// The actions of a tick.
const (
	FireEnqueue FireAction = iota // enqueue the tick's job
	FireSkip                      // enqueue nothing: the previous job has not ended
	FireReplace                   // cancel the previous job, then enqueue
)

// Action decides what a tick does; last is the schedule's newest job, nil
// when it has none.
func (o Overlap) Action(last *Job) FireAction {
	if last == nil || last.State.Final() {
		return FireEnqueue
	}
	switch o {
	case OverlapAllow:
		return FireEnqueue
	case OverlapReplace:
		return FireReplace
	}
	return FireSkip
}

// NewJob is the job s makes for tick (zero for jobq schedule run) at now.
func (s *Schedule) NewJob(tick, now time.Time) JobInsertParams {
	p := s.Job
	p.State, p.RunAt, p.CreatedAt = StatePending, now, now
	p.ScheduleID, p.ScheduleTick = s.ID, tick
	p.UniqueKey, p.After = "", nil
	return p
}
