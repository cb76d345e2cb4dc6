package queue

import (
	"slices"
	"strings"
	"time"
)

// StatsTally gathers, queue by queue, what a store reads for
// Store.QueueStats, and makes its result: the rules of what users see
// (a due job counts as pending, the oldest ready job, the recent ends)
// are kept here, the stores only read. The zero value is ready to use.
type StatsTally struct {
	byName map[string]*QueueStats
}

// queue returns the stats of queue name, made on first use.
func (t *StatsTally) queue(name string) *QueueStats {
	if t.byName == nil {
		t.byName = map[string]*QueueStats{}
	}
	q, ok := t.byName[name]
	if !ok {
		q = &QueueStats{QueueSettings: QueueSettings{Name: name}, Counts: map[State]int{}}
		t.byName[name] = q
	}
	return q
}

// Settings records a queue's settings.
func (t *StatsTally) Settings(qs QueueSettings) { t.queue(qs.Name).QueueSettings = qs }

// Count adds n jobs of queue name in stored state st.
func (t *StatsTally) Count(name string, st State, n int) { t.queue(name).Counts[st] += n }

// Ready lists, for each queue and each of ReadyStates it holds jobs in,
// what the store must read next and give to Due.
func (t *StatsTally) Ready() []ReadyRange {
	var out []ReadyRange
	for _, q := range t.byName {
		for _, st := range ReadyStates {
			if q.Counts[st] != 0 {
				out = append(out, ReadyRange{Queue: q.Name, State: st})
			}
		}
	}
	return out
}

// ReadyRange is one queue's jobs in one of ReadyStates.
type ReadyRange struct {
	Queue string
	State State
}

// Due records what the store read of r at Now: n of its jobs whose time
// has come (counted as pending, as users see them: a scheduled or
// retrying job due is ready), and the least run_at among them (zero when
// none), a candidate for the queue's oldest ready job.
func (t *StatsTally) Due(r ReadyRange, n int, oldest time.Time) {
	q := t.queue(r.Queue)
	if n > 0 && r.State != StatePending {
		q.Counts[r.State] -= n
		q.Counts[StatePending] += n
	}
	if !oldest.IsZero() && (q.OldestReady.IsZero() || oldest.Before(q.OldestReady)) {
		q.OldestReady = oldest
	}
}

// Recent records n jobs of queue name that ended in state st (one of
// RecentStates) since RecentSince.
func (t *StatsTally) Recent(name string, st State, n int) {
	switch q := t.queue(name); st {
	case StateSucceeded:
		q.RecentSucceeded = n
	case StateDead:
		q.RecentDead = n
	}
}

// Stats returns every queue's stats, by name, without empty counts.
func (t *StatsTally) Stats() []QueueStats {
	out := make([]QueueStats, 0, len(t.byName))
	for _, q := range t.byName {
		for st, n := range q.Counts {
			if n == 0 {
				delete(q.Counts, st)
			}
		}
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}
