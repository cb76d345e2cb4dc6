package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/jobq/jobq/internal/queue"
)

// Progress lines for a person watching a terminal: drain's jobs done and
// enqueue --batch's lines read, drawn on stderr by mpb. They exist only
// when IOStreams.ErrTerminal says stderr is a terminal: piped or logged,
// stderr gets the same lines as ever and nothing else.

// newProgress draws on w, which the caller has found to be a terminal
// (ForceTTY: mpb would ask the file again, and a test gives a buffer).
func newProgress(w io.Writer) *mpb.Progress {
	return mpb.NewWithContext(context.Background(), mpb.WithOutput(w), mpb.ForceTTY(), mpb.WithAutoRefresh(),
		mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
}

// drainProgress shows how many jobs a drain has run out of those ready,
// how many failed, and the rate. Log lines written through it (its
// Writer) go above the bar.
type drainProgress struct {
	w      io.Writer // stderr itself
	p      *mpb.Progress
	bar    *mpb.Bar
	total  atomic.Int64
	failed atomic.Int64
	start  time.Time
}

func newDrainProgress(w io.Writer) *drainProgress {
	return &drainProgress{w: w, p: newProgress(w), start: time.Now()}
}

// Writer is where the drain's log lines go while the bar is drawn: above
// it, or straight to stderr once mpb has stopped (it stops drawing for
// good when it cannot, e.g. on a terminal of no size), so that no log
// line is lost.
func (d *drainProgress) Writer() io.Writer { return d }

func (d *drainProgress) Write(b []byte) (int, error) {
	if n, err := d.p.Write(b); err == nil {
		return n, nil
	}
	return d.w.Write(b)
}

// Start draws the bar for ready jobs.
func (d *drainProgress) Start(ready int) {
	d.total.Store(int64(ready))
	d.bar = d.p.AddBar(int64(ready), mpb.PrependDecorators(decor.Any(func(s decor.Statistics) string {
		rate := float64(s.Current) / max(time.Since(d.start).Seconds(), 0.001)
		return fmt.Sprintf("%d/%d done, %d failed, %.0f/s", s.Current, d.total.Load(), d.failed.Load(), rate)
	})))
}

// Update takes a runner's Snapshot (Runner.OnLoop): jobs that became
// ready meanwhile (a retry due, a new job) grow the total.
func (d *drainProgress) Update(s queue.Snapshot) {
	done := int64(s.Succeeded + s.Retrying + s.Dead + s.Cancelled + s.HandedBack)
	d.failed.Store(int64(s.Retrying + s.Dead))
	if done+int64(s.Running) > d.total.Load() {
		d.total.Store(done + int64(s.Running))
		d.bar.SetTotal(d.total.Load(), false)
	}
	d.bar.SetCurrent(done)
}

// Stop draws the bar a last time, as it ended, and leaves it there.
func (d *drainProgress) Stop() {
	if d.bar != nil {
		d.bar.SetTotal(-1, true) // what was done is the total
	}
	d.p.Wait()
}

// Large batches: progress is shown once the input passes either bound.
const (
	batchProgressLines = 10_000
	batchProgressAfter = time.Second
)

// lineProgress counts the lines read through it and, once the input is
// large, shows the count.
type lineProgress struct {
	r     io.Reader
	w     io.Writer
	now   func() time.Time
	start time.Time
	lines int64
	p     *mpb.Progress
	bar   *mpb.Bar
}

func newLineProgress(r io.Reader, w io.Writer, now func() time.Time) *lineProgress {
	return &lineProgress{r: r, w: w, now: now, start: now()}
}

func (l *lineProgress) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	l.lines += int64(bytes.Count(b[:n], []byte{'\n'}))
	if l.bar == nil && (l.lines > batchProgressLines || l.now().Sub(l.start) > batchProgressAfter) {
		l.p = newProgress(l.w)
		l.bar = l.p.New(0, mpb.SpinnerStyle(), mpb.PrependDecorators(decor.Any(func(s decor.Statistics) string {
			return fmt.Sprintf("%d lines read", s.Current)
		})))
	}
	if l.bar != nil {
		l.bar.SetCurrent(l.lines)
	}
	return n, err
}

// Stop draws the count a last time, if it was shown, and leaves it.
func (l *lineProgress) Stop() {
	if l.bar != nil {
		l.bar.SetTotal(-1, true)
		l.p.Wait()
	}
}
