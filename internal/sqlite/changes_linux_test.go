package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A closed store gives back its inotify descriptor: a process that opens
// stores one after another (tests do) would otherwise run out of the 128
// inotify instances a user may hold, and Wait would fall back to polling.
func TestCloseEndsTheWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	before, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd to count descriptors:", err)
	}
	for range 200 {
		s, err := Open(t.Context(), path, Options{BusyTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if s.changes() == nil {
			t.Fatal("no inotify watch; this test needs one")
		}
		if err := s.Wait(context.Background(), time.Millisecond); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, _ := os.ReadDir("/proc/self/fd")
		if len(after) <= len(before)+2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after 200 stores came and went, %d before", len(after), len(before))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
