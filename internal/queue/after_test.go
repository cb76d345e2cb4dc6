package queue

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestAfterState(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	job := func(runAt time.Time, after ...int64) JobInsertParams {
		return JobInsertParams{State: StateWaiting, RunAt: runAt, CreatedAt: now, After: after}
	}
	tests := []struct {
		name       string
		p          JobInsertParams
		deps       []State
		want       State
		wantFailed string
	}{
		{"one pending: waits", job(now, 3), []State{StatePending}, StateWaiting, ""},
		{"one running: waits", job(now, 3), []State{StateRunning}, StateWaiting, ""},
		{"one retrying: waits", job(now, 3), []State{StateRetrying}, StateWaiting, ""},
		{"one waiting: waits", job(now, 3), []State{StateWaiting}, StateWaiting, ""},
		{"one scheduled: waits", job(now, 3), []State{StateScheduled}, StateWaiting, ""},
		{"succeeded: pending", job(now, 3), []State{StateSucceeded}, StatePending, ""},
		{"succeeded, runs later: scheduled", job(now.Add(time.Minute), 3), []State{StateSucceeded}, StateScheduled, ""},
		{"all succeeded", job(now, 3, 4), []State{StateSucceeded, StateSucceeded}, StatePending, ""},
		{"one of two still to run", job(now, 3, 4), []State{StateSucceeded, StatePending}, StateWaiting, ""},
		{"dead: inserted waiting, cancelled", job(now, 3), []State{StateDead}, StateWaiting, "dependency 3 ended dead"},
		{"cancelled", job(now, 3), []State{StateCancelled}, StateWaiting, "dependency 3 ended cancelled"},
		{"failed beside succeeded", job(now, 3, 4), []State{StateSucceeded, StateDead}, StateWaiting, "dependency 4 ended dead"},
		{"failed beside pending", job(now, 3, 4), []State{StatePending, StateCancelled}, StateWaiting, "dependency 4 ended cancelled"},
		{"the first failed is named", job(now, 3, 4), []State{StateCancelled, StateDead}, StateWaiting, "dependency 3 ended cancelled"},
		{"not waiting stays as it was", JobInsertParams{State: StateScheduled, RunAt: now.Add(time.Hour), CreatedAt: now, After: []int64{3}},
			[]State{StateSucceeded}, StateScheduled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, failed := afterState(tt.p, tt.deps)
			if got != tt.want || failed != tt.wantFailed {
				t.Errorf("afterState = %s, %q; want %s, %q", got, failed, tt.want, tt.wantFailed)
			}
		})
	}
}

// InsertBatch settles a stream's jobs one at a time: their states from
// their dependencies, read once each; unique keys seen earlier in the
// stream or stored; the IDs in the stream's order.
func TestInsertBatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	stored := map[int64]State{1: StateSucceeded, 2: StateDead, 3: StatePending}
	reads := map[int64]int{}
	state := func(id int64) (State, error) {
		reads[id]++
		if st, ok := stored[id]; ok {
			return st, nil
		}
		return "", ErrNotFound
	}
	lookup := func(key string) (int64, error) {
		if key == "stored" {
			return 3, nil
		}
		return 0, nil
	}
	plain := JobInsertParams{State: StatePending, RunAt: now, CreatedAt: now}
	withAfter := func(after ...int64) JobInsertParams {
		p := plain
		p.State, p.After = StateWaiting, after
		return p
	}
	withKey := func(key string) JobInsertParams {
		p := plain
		p.UniqueKey = key
		return p
	}

	var b InsertBatch
	stream := []JobInsertParams{plain, withAfter(1), withKey("k"), withAfter(2, 3), withKey("stored"), withAfter(3), withKey("k")}
	var states []State
	var inserted []int
	for i, p := range stream {
		insert, err := b.Add(&p, lookup, state)
		if err != nil {
			t.Fatal(err)
		}
		if insert {
			states = append(states, p.State)
			inserted = append(inserted, i)
		}
		if i == 2 { // a chunk of three is inserted
			b.Inserted([]int64{10, 11, 12})
		}
	}
	if b.Pending() != 2 {
		t.Errorf("Pending() = %d, want 2", b.Pending())
	}
	b.Inserted([]int64{13, 14})
	if want := []int{0, 1, 2, 3, 5}; !reflect.DeepEqual(inserted, want) {
		t.Errorf("inserted %v, want %v", inserted, want)
	}
	if want := []State{StatePending, StatePending, StatePending, StateWaiting, StateWaiting}; !reflect.DeepEqual(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
	if want := []int64{10, 11, 12, 13, 3, 14, 12}; !reflect.DeepEqual(b.IDs(), want) {
		t.Errorf("IDs() = %v, want %v", b.IDs(), want)
	}
	want := []InsertDeps{{1, []int64{1}, "", now}, {3, []int64{2, 3}, "dependency 2 ended dead", now}, {5, []int64{3}, "", now}}
	if !reflect.DeepEqual(b.Deps, want) {
		t.Errorf("Deps = %v, want %v", b.Deps, want)
	}
	if want := map[int64]int{1: 1, 2: 1, 3: 1}; !reflect.DeepEqual(reads, want) {
		t.Errorf("dependencies read %v times, want once each", reads)
	}

	var empty InsertBatch
	if ids := empty.IDs(); ids == nil || len(ids) != 0 {
		t.Errorf("IDs() of nothing = %#v, want empty", ids)
	}
	missing := withAfter(1, 9)
	if _, err := empty.Add(&missing, lookup, state); !errors.Is(err, ErrNotFound) || err.Error() != "--after job 9: not found" {
		t.Errorf("a dependency that does not exist: %v, want --after job 9: ErrNotFound", err)
	}
	// A job of the same stream, inserted already, is no dependency: as
	// when a batch was settled whole before its insert.
	var own InsertBatch
	first := plain
	if _, err := own.Add(&first, lookup, state); err != nil {
		t.Fatal(err)
	}
	own.Inserted([]int64{20})
	stored[20] = StatePending
	onOwn := withAfter(20)
	if _, err := own.Add(&onOwn, lookup, state); !errors.Is(err, ErrNotFound) {
		t.Errorf("a dependency inserted by the same call: %v, want ErrNotFound", err)
	}
}
