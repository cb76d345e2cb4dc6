package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

func TestCompleterNoDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "jobq.db")
	if _, err := OpenCompleter(path); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("OpenCompleter(missing) = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenCompleter created %s: %v", filepath.Join(dir, "state"), err)
	}
}

func TestCompleterReads(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	a, b := testJob("mail"), testJob("backups")
	b.Command = "tar czf /b.tgz /home"
	if _, err := s.JobInsert(t.Context(), queue.Jobs(a, b)); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCompleter(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	jobs, err := c.RecentJobs(t.Context(), 10)
	if err != nil || len(jobs) != 2 || jobs[0].ID != 2 || jobs[0].Command != b.Command || jobs[0].State != "pending" {
		t.Errorf("RecentJobs = %+v, %v", jobs, err)
	}
	if q, err := c.Queues(t.Context()); err != nil || !reflect.DeepEqual(q, []string{"backups", "mail"}) {
		t.Errorf("Queues = %v, %v", q, err)
	}
	var params []queue.ScheduleAddParams
	for _, name := range []string{"nightly", "hourly"} {
		params = append(params, queue.ScheduleAddParams{Now: time.Now(), Schedule: queue.Schedule{
			Name: name, Expr: "@daily", Zone: "UTC", Overlap: queue.OverlapSkip,
			Job: a, NextAt: time.Now(), DueAt: time.Now(),
		}})
	}
	if _, err := s.ScheduleAdd(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ScheduleNames(t.Context()); err != nil || !reflect.DeepEqual(n, []string{"hourly", "nightly"}) {
		t.Errorf("ScheduleNames = %v, %v", n, err)
	}
	// A completer cannot write.
	if _, err := c.db.ExecContext(t.Context(), `DELETE FROM jobs`); err == nil {
		t.Error("a completer deleted jobs")
	}
}
