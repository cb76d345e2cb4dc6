package queue

import (
	"reflect"
	"testing"
	"time"
)

// TestStatsTally: what QueueStats reports from what a store read. A due
// scheduled or retrying job counts as pending (a due pending job is
// pending already), the oldest ready job is the least run_at of any
// ready state, recent ends are by state, counts that come to zero are
// left out, and queues come by name, those with settings and no jobs
// too.
func TestStatsTally(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	var tally StatsTally
	tally.Settings(QueueSettings{Name: "quiet", Paused: true})
	tally.Count("mail", StatePending, 2)
	tally.Count("mail", StateScheduled, 3)
	tally.Count("mail", StateRetrying, 1)
	tally.Count("mail", StateSucceeded, 7)
	tally.Count("bulk", StateDead, 1)

	got := map[ReadyRange]bool{}
	for _, r := range tally.Ready() {
		got[r] = true
	}
	want := map[ReadyRange]bool{{"mail", StatePending}: true, {"mail", StateScheduled}: true, {"mail", StateRetrying}: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Ready() = %v, want %v", got, want)
	}
	tally.Due(ReadyRange{"mail", StatePending}, 2, at(50))
	tally.Due(ReadyRange{"mail", StateScheduled}, 1, at(40))
	tally.Due(ReadyRange{"mail", StateRetrying}, 1, at(60))
	tally.Recent("mail", StateSucceeded, 4)
	tally.Recent("bulk", StateDead, 1)

	wantStats := []QueueStats{
		{QueueSettings: QueueSettings{Name: "bulk"}, Counts: map[State]int{StateDead: 1}, RecentDead: 1},
		{QueueSettings: QueueSettings{Name: "mail"},
			Counts:      map[State]int{StatePending: 4, StateScheduled: 2, StateSucceeded: 7},
			OldestReady: at(40), RecentSucceeded: 4},
		{QueueSettings: QueueSettings{Name: "quiet", Paused: true}, Counts: map[State]int{}},
	}
	if got := tally.Stats(); !reflect.DeepEqual(got, wantStats) {
		t.Errorf("Stats() =\n%+v\nwant\n%+v", got, wantStats)
	}
}
