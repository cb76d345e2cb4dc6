package queue

import (
	"errors"
	"fmt"
	"strings"
	"sync"
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
	// ActiveSince is when it last began to tick: added, or resumed from
	// a pause (a replace, or a resume of a schedule not paused, keeps
	// it). An alert on a schedule that has not succeeded counts from the
	// later of this and LastSuccess, so that a schedule resumed after a
	// long pause is not taken for one that fails.
	ActiveSince time.Time

	// Filled in by ScheduleGet and ScheduleList: the newest job it made
	// (nil when none is left), when one last succeeded, and how many of
	// its jobs ended dead in a row since. The last two are kept by the
	// store as the jobs end, in the order of the ticks: only a job not
	// older (by ID) than the last job counted changes them, so that jobq
	// retry of an old tick's job neither raises the failures after a
	// newer success nor resets them while the newest ticks are dead. They
	// outlive the jobs deleted since (retention): an alert on them must
	// not fire because a week-old success was deleted.
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
	expr string
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
	return &Timing{expr: expr, cron: c, loc: loc}, nil
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

// gapFrom and gapUntil bound the ticks shortestGap and Period look at:
// four years, leap day included, so that every shape of a
// calendar expression comes round (a weekday schedule's weekend, a
// monthly one's 31 days, a yearly one's leap year, "0 0 29 2 *"'s four
// years), and fixed, so that whether a jitter is accepted does not depend
// on the day it is given. The ticks are those of the wall clock in UTC:
// the expression's own shape, which a zone's daylight-saving change
// lengthens or shortens by its hour on two nights a year.
var gapFrom = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var gapUntil = gapFrom.AddDate(4, 0, 0)

// shortestGap is the shortest time between two of a calendar
// expression's ticks from gapFrom to gapUntil; 0 for @every, whose period is its gap.
func (t *Timing) shortestGap() time.Duration {
	if t.cron.Every() > 0 {
		return 0
	}
	return t.gaps().shortest
}

// Period is the longest time between two ticks: @every's duration, or,
// for a calendar expression, the longest gap over four years (a weekday
// schedule's weekend, "*/5 9-17 * * *"'s night, a monthly one's 31
// days). An alert on a schedule that has not succeeded for twice its
// period (docs/monitoring.md) takes it, so that a night or a weekend is
// no outage. It is read at every scrape, so it is computed once per
// expression in a process.
func (t *Timing) Period() time.Duration {
	if every := t.cron.Every(); every > 0 {
		return every
	}
	return t.gaps().longest
}

type gapRange struct{ shortest, longest time.Duration }

// gapCache holds gaps by expression: they do not depend on the zone.
var gapCache sync.Map // string -> gapRange

// gaps is the shortest and the longest time between two of a calendar
// expression's ticks over the four years from gapFrom, and from the last
// of them to the next. Walking every tick of "* * * * *" would take two
// million steps, so it walks days: every day that has ticks has the same
// times of day (the minute and hour fields), so the gaps inside a day are
// read once, on the first day, and then each day's last tick (its first
// plus the day's span) steps to the first tick of the next day that has
// any, a few thousand steps at most.
func (t *Timing) gaps() gapRange {
	if g, ok := gapCache.Load(t.expr); ok {
		return g.(gapRange)
	}
	next := func(after time.Time) time.Time { return t.cron.Next(after, time.UTC) }
	var g gapRange
	see := func(d time.Duration) {
		if g.shortest == 0 || d < g.shortest {
			g.shortest = d
		}
		g.longest = max(g.longest, d)
	}
	first := next(gapFrom.Add(-time.Second))
	if first.IsZero() {
		return g
	}
	// The first day's ticks: its gaps, and the span from its first
	// tick to its last.
	last := first
	for {
		n := next(last)
		if n.IsZero() || n.YearDay() != last.YearDay() || n.Year() != last.Year() {
			break
		}
		see(n.Sub(last))
		last = n
	}
	span := last.Sub(first)
	for first.Before(gapUntil) {
		last = first.Add(span)
		n := next(last)
		if n.IsZero() {
			break
		}
		see(n.Sub(last))
		first = n
	}
	gapCache.Store(t.expr, g)
	return g
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
	if err := ValidateText("description", s.Description); err != nil {
		return err
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

// TickFiring is what firing one tick of a schedule writes, as FireTick
// decides it; a store writes it in the transaction that moved the
// schedule on.
type TickFiring struct {
	// Fired is what to report; the store sets its JobID once it has
	// inserted Job.
	Fired ScheduleFired
	// Skip, when the tick is skipped (--overlap skip), is the event that
	// says so, logged against the previous job; nothing is enqueued.
	Skip *Event
	// Cancel is the previous job to cancel before Job is enqueued
	// (--overlap replace); 0 when none.
	Cancel int64
	// Job is the tick's job; nil when the tick is skipped.
	Job *JobInsertParams
}

// FireTick decides what firing s's tick, planned in plan, does at now by
// its overlap policy. last is the schedule's newest job (its ID, State and
// Run), nil when it has none.
func (s *Schedule) FireTick(plan FirePlan, last *Job, now time.Time) TickFiring {
	f := TickFiring{Fired: ScheduleFired{Schedule: s.Name, FirePlan: plan}}
	switch s.Overlap.action(last) {
	case fireSkip:
		f.Fired.Skipped, f.Fired.Previous = true, last.ID
		f.Skip = &Event{JobID: last.ID, At: now, From: last.State, To: last.State, Attempt: last.Run,
			Error: fmt.Sprintf("tick %s of schedule %s skipped: job %d is %s (--overlap skip)",
				plan.Tick.UTC().Format(time.RFC3339), s.Name, last.ID, last.State),
			Schedule: s.Name}
		return f
	case fireReplace:
		f.Fired.Previous, f.Cancel = last.ID, last.ID
	}
	job := s.NewJob(plan.Tick, now)
	f.Job = &job
	return f
}

// fireAction is what a tick does, by the overlap policy and the
// schedule's previous job.
type fireAction int

// The actions of a tick.
const (
	fireEnqueue fireAction = iota // enqueue the tick's job
	fireSkip                      // enqueue nothing: the previous job has not ended
	fireReplace                   // cancel the previous job, then enqueue
)

// action decides what a tick does; last is the schedule's newest job, nil
// when it has none.
func (o Overlap) action(last *Job) fireAction {
	if last == nil || last.State.Final() {
		return fireEnqueue
	}
	switch o {
	case OverlapAllow:
		return fireEnqueue
	case OverlapReplace:
		return fireReplace
	}
	return fireSkip
}

// NewJob is the job s makes for tick (zero for jobq schedule run) at now.
func (s *Schedule) NewJob(tick, now time.Time) JobInsertParams {
	p := s.Job
	p.State, p.RunAt, p.CreatedAt = StatePending, now, now
	p.ScheduleID, p.ScheduleTick = s.ID, tick
	p.UniqueKey, p.After = "", nil
	return p
}
