package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
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

// Once the watch has ended otherwise than by Close (its reader met an
// error: EAGAIN where the poller refused the descriptor, or the watch was
// removed), Wait polls: another store's commit wakes it long before its
// deadline, in this Wait and in later ones.
func TestWaitPollsOnceTheWatchEnds(t *testing.T) {
	s, path := setup(t)
	if s.changes() == nil {
		t.Fatal("no inotify watch; this test needs one")
	}
	other, err := Open(t.Context(), path, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := s.Wait(context.Background(), time.Millisecond); err != nil { // the first returns at once
		t.Fatal(err)
	}
	s.unwatch() // ends the reader, as a failed read would
	const deadline = 10 * time.Second
	for i := range 2 {
		go func() {
			time.Sleep(50 * time.Millisecond)
			if _, err := other.writer.Exec("PRAGMA user_version = " + strconv.Itoa(i+1)); err != nil {
				t.Error(err)
			}
		}()
		start := time.Now()
		if err := s.Wait(context.Background(), deadline); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited >= deadline {
			t.Fatalf("Wait %d after the watch ended: woken only by its deadline (%v), not by the commit", i, waited)
		}
	}
}

// Once the watch has ended, an idle Wait polls, every waitPoll (and every
// afterWritePoll for afterWriteFor after the end), rather than spin on the
// closed channel. Counted in data_version queries, which a slower machine
// makes fewer of, never more: a spin makes tens of thousands in 300 ms.
func TestWaitDoesNotSpinOnceTheWatchEnds(t *testing.T) {
	s, _ := setup(t)
	if s.changes() == nil {
		t.Fatal("no inotify watch; this test needs one")
	}
	if err := s.Wait(context.Background(), time.Millisecond); err != nil { // the first returns at once
		t.Fatal(err)
	}
	s.unwatch()
	counter := countSteps(t, s)
	defer counter.Uninstall()
	if _, err := s.writer.Exec("PRAGMA data_version"); err != nil {
		t.Fatal(err)
	}
	perQuery := counter.Steps()
	const d = 300 * time.Millisecond
	if err := s.Wait(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	most := int64(afterWriteFor/afterWritePoll + d/waitPoll + 10)
	if queries := (counter.Steps() - perQuery) / perQuery; queries > most {
		t.Errorf("an idle Wait of %v after the watch ended ran data_version %d times, want at most %d: it spins", d, queries, most)
	}
}
