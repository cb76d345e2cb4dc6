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

func TestSettleAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	stored := map[int64]State{1: StateSucceeded, 2: StateDead, 3: StatePending}
	state := func(id int64) (State, error) {
		if st, ok := stored[id]; ok {
			return st, nil
		}
		return "", ErrNotFound
	}
	plain := JobInsertParams{State: StatePending, RunAt: now, CreatedAt: now}
	withAfter := func(after ...int64) JobInsertParams {
		p := plain
		p.State, p.After = StateWaiting, after
		return p
	}

	params := []JobInsertParams{plain, plain}
	out, failed, err := SettleAfter(params, state)
	if err != nil || &out[0] != &params[0] || failed != nil {
		t.Errorf("without --after: %v, failed %v, copied %v; want the params themselves", err, failed, &out[0] != &params[0])
	}

	params = []JobInsertParams{plain, withAfter(1), withAfter(2, 3), withAfter(3)}
	out, failed, err = SettleAfter(params, state)
	if err != nil {
		t.Fatal(err)
	}
	var got []State
	for _, p := range out {
		got = append(got, p.State)
	}
	if want := []State{StatePending, StatePending, StateWaiting, StateWaiting}; !reflect.DeepEqual(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	if want := map[int]string{2: "dependency 2 ended dead"}; !reflect.DeepEqual(failed, want) {
		t.Errorf("failed %v, want %v", failed, want)
	}
	if params[1].State != StateWaiting {
		t.Errorf("the caller's params changed: %s", params[1].State)
	}

	if _, _, err := SettleAfter([]JobInsertParams{withAfter(1, 9)}, state); !errors.Is(err, ErrNotFound) {
		t.Errorf("a dependency that does not exist: %v, want ErrNotFound", err)
	}
}
