package cmd

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jobq/jobq/internal/queue"
)

func TestScheduleAddBuildsTheScheduleFromFlags(t *testing.T) {
	e := setup(t)
	if code := e.run("schedule", "add", "nightly", "--cron", "30 2 * * *", "--tz", "America/New_York",
		"--jitter", "10m", "--overlap", "replace", "-q", "mail", "--timeout", "1h", "--env", "A=1",
		"--", "/bin/backup", "--all"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.stderr)
	}
	store, err := e.f.OpenStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sc, err := store.ScheduleGet(context.Background(), "nightly")
	if err != nil {
		t.Fatal(err)
	}
	// testNow is 07:00 in New York (EST): the first tick is tomorrow 02:30.
	next := time.Date(2026, 11, 23, 7, 30, 0, 0, time.UTC)
	if !sc.NextAt.Equal(next) || sc.DueAt.Before(next) || sc.DueAt.After(next.Add(10*time.Minute)) {
		t.Errorf("next %v, due %v; want %v, due within 10m of it", sc.NextAt, sc.DueAt, next)
	}
	if sc.Overlap != queue.OverlapReplace || sc.Jitter != 10*time.Minute || sc.Zone != "America/New_York" ||
		sc.Job.Queue != "mail" || sc.Job.Timeout != time.Hour || !slices.Equal(sc.Job.Env, []string{"A=1"}) ||
		!slices.Equal(sc.Job.Argv, []string{"/bin/backup", "--all"}) || sc.Job.Dir != e.dir || sc.Job.MaxAttempts != 3 {
		t.Errorf("schedule = %+v", sc)
	}
}

func TestScheduleNextUsesTheClock(t *testing.T) {
	e := setup(t)
	if code := e.run("schedule", "next", "--cron", "0 9 * * mon", "--tz", "Europe/Berlin", "-n", "2"); code != 0 {
		t.Fatalf("exit %d: %s", code, e.stderr)
	}
	// testNow is Sunday 2026-11-22.
	if want := "2026-11-23 09:00:00 +01:00 CET\n2026-11-30 09:00:00 +01:00 CET\n"; e.stdout.String() != want {
		t.Errorf("stdout = %q, want %q", e.stdout, want)
	}
}

// TestScheduleShowCutsRecentJobsToTheTerminal: the recent jobs' table of
// schedule show fits the terminal, as jobq list's does.
func TestScheduleShowCutsRecentJobsToTheTerminal(t *testing.T) {
	e := setup(t)
	long := "echo " + strings.Repeat("very-long-argument ", 10)
	if code := e.run("schedule", "add", "wide", "--cron", "@daily", long); code != 0 {
		t.Fatalf("add: exit %d: %s", code, e.stderr)
	}
	if code := e.run("schedule", "run", "wide"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, e.stderr)
	}
	const width = 80
	e.f.IO.Out = sizedWriter{e.stdout, width}
	if code := e.run("schedule", "show", "wide"); code != 0 {
		t.Fatalf("show: exit %d: %s", code, e.stderr)
	}
	_, table, ok := strings.Cut(e.stdout.String(), "Recent jobs")
	if !ok {
		t.Fatalf("no recent jobs in:\n%s", e.stdout)
	}
	for _, line := range strings.Split(table, "\n")[1:] {
		if n := utf8.RuneCountInString(line); n > width {
			t.Errorf("a line of %d columns on a terminal of %d:\n%s", n, width, line)
		}
	}
}

// TestScheduleListShowsWhenItFires: with a jitter, NEXT is the due time
// (the tick plus its delay), not the tick.
func TestScheduleListShowsWhenItFires(t *testing.T) {
	e := setup(t)
	if code := e.run("schedule", "add", "j", "--cron", "@daily", "--tz", "UTC", "--jitter", "1h", "true"); code != 0 {
		t.Fatalf("add: exit %d: %s", code, e.stderr)
	}
	store, err := e.f.OpenStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	due := tick.Add(37 * time.Minute)
	if err := store.ScheduleSet(context.Background(), queue.ScheduleSetParams{Name: "j", NextAt: tick, DueAt: due, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if code := e.run("schedule", "list"); code != 0 {
		t.Fatalf("list: exit %d: %s", code, e.stderr)
	}
	if want := formatTime(due, testNow, false); !strings.Contains(e.stdout.String(), want) {
		t.Errorf("schedule list shows no due time %s:\n%s", want, e.stdout)
	}
	if code := e.run("schedule", "show", "j"); code != 0 {
		t.Fatalf("show: exit %d: %s", code, e.stderr)
	}
	if want := "fires 2026-11-23 00:37:00 +00:00 UTC"; !strings.Contains(e.stdout.String(), want) {
		t.Errorf("schedule show has no %q:\n%s", want, e.stdout)
	}
}
