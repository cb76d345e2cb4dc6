package sqlite

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jobq/jobq/internal/queue"
)

// TestEndTriggerMatchesStates: jobs_count_end counts the transitions to
// queue.FinalStates, which it names literally, being SQL.
func TestEndTriggerMatchesStates(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	var def string
	if err := s.reader.QueryRow("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'jobs_count_end'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	want := "new.state IN (" + finalStates + ")"
	if !strings.Contains(strings.Join(strings.Fields(def), " "), want) {
		t.Errorf("trigger jobs_count_end is\n%s\nwant it to contain %q, from queue.FinalStates", def, want)
	}
}

// TestPingSeesTheFileGone: a database file removed or replaced under an open
// store fails Ping, though every read of the old file still succeeds.
func TestPingSeesTheFileGone(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		do   func(path string) error
		want string
	}{
		{"removed", func(path string) error { return os.Remove(path) }, "no such file or directory"},
		{"replaced by a directory", func(path string) error {
			return errors.Join(os.Remove(path), os.Mkdir(path, 0o700))
		}, "was replaced since jobq opened it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, path := setup(t)
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping before: %v", err)
			}
			if err := tt.do(path); err != nil {
				t.Fatal(err)
			}
			if _, err := s.QueueStats(t.Context(), queue.QueueStatsParams{}); err != nil {
				t.Fatalf("QueueStats of the old file: %v", err)
			}
			if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ping = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
