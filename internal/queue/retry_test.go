package queue

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"
)

func TestDecideRetry(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	job := func(st State, key string, deps ...int64) *Job {
		return &Job{ID: 10, State: st, RunAt: now.Add(-time.Hour), UniqueKey: key, DependsOn: deps}
	}
	backingOff := job(StateRetrying, "")
	backingOff.RunAt = now.Add(time.Minute)
	tests := []struct {
		name      string
		job       *Job
		keyHolder int64
		deps      map[int64]State
		want      retryDecision
	}{
		{"no such job", nil, 0, nil, retryDecision{Reason: "not found"}},
		{"dead", job(StateDead, ""), 0, nil, retryDecision{State: StatePending}},
		{"cancelled", job(StateCancelled, ""), 0, nil, retryDecision{State: StatePending}},
		{"succeeded", job(StateSucceeded, ""), 0, nil, retryDecision{State: StatePending}},
		{"retrying within its backoff", backingOff, 0, nil, retryDecision{State: StatePending}},
		{"retrying past its backoff is pending to users", job(StateRetrying, ""), 0, nil, retryDecision{Reason: "it is pending"}},
		{"running", job(StateRunning, ""), 0, nil, retryDecision{Reason: "it is running"}},
		{"waiting", job(StateWaiting, "", 3), 0, map[int64]State{3: StatePending}, retryDecision{Reason: "it is waiting"}},
		{"not retryable comes before the key", job(StateRunning, "k"), 7, nil, retryDecision{Reason: "it is running"}},
		{"key free", job(StateDead, "k"), 0, nil, retryDecision{State: StatePending}},
		{"key held by another", job(StateDead, "k"), 7, nil, retryDecision{Reason: `job 7 holds its unique key "k"`}},
		{"key held by itself", job(StateDead, "k"), 10, nil, retryDecision{State: StatePending}},
		{"key comes before dependencies", job(StateDead, "k", 3), 7, map[int64]State{3: StateDead}, retryDecision{Reason: `job 7 holds its unique key "k"`}},
		{"dependency succeeded", job(StateDead, "", 3), 0, map[int64]State{3: StateSucceeded}, retryDecision{State: StatePending}},
		{"dependency pending: waits", job(StateDead, "", 3), 0, map[int64]State{3: StatePending}, retryDecision{State: StateWaiting}},
		{"dependency running: waits", job(StateDead, "", 3), 0, map[int64]State{3: StateRunning}, retryDecision{State: StateWaiting}},
		{"dependency retrying: waits", job(StateDead, "", 3), 0, map[int64]State{3: StateRetrying}, retryDecision{State: StateWaiting}},
		{"dependency scheduled: waits", job(StateDead, "", 3), 0, map[int64]State{3: StateScheduled}, retryDecision{State: StateWaiting}},
		{"dependency waiting: waits", job(StateDead, "", 3), 0, map[int64]State{3: StateWaiting}, retryDecision{State: StateWaiting}},
		{"dependency dead: held", job(StateDead, "", 3), 0, map[int64]State{3: StateDead}, retryDecision{Reason: "dependency 3 is dead", Held: true}},
		{"dependency cancelled: held", job(StateCancelled, "", 3), 0, map[int64]State{3: StateCancelled}, retryDecision{Reason: "dependency 3 is cancelled", Held: true}},
		{"dependency deleted: refused for good", job(StateCancelled, "", 3), 0, map[int64]State{}, retryDecision{Reason: "dependency 3 was deleted"}},
		{"the first dependency that refuses speaks", job(StateDead, "", 3, 4, 5), 0, map[int64]State{3: StatePending, 5: StateDead}, retryDecision{Reason: "dependency 4 was deleted"}},
		{"dead before deleted in DependsOn order", job(StateDead, "", 5, 4), 0, map[int64]State{5: StateDead}, retryDecision{Reason: "dependency 5 is dead", Held: true}},
		{"one unfinished dependency among succeeded ones", job(StateDead, "", 3, 4), 0, map[int64]State{3: StateSucceeded, 4: StatePending}, retryDecision{State: StateWaiting}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := decideRetry(tt.job, now, tt.keyHolder, tt.deps); got != tt.want {
				t.Errorf("decideRetry = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// memRetryTx is a RetryTx over jobs held in memory: the states and unique
// keys of a store's jobs, which Retry changes as a store's would.
type memRetryTx struct {
	state map[int64]State
	key   map[int64]string
}

func (m *memRetryTx) KeyHolder(_ context.Context, key string, id int64) (int64, error) {
	for other, k := range m.key {
		if k == key && other != id && !m.state[other].Final() {
			return other, nil
		}
	}
	return 0, nil
}

func (m *memRetryTx) JobState(_ context.Context, id int64) (State, bool, error) {
	st, ok := m.state[id]
	return st, ok, nil
}

func (m *memRetryTx) Retry(_ context.Context, id int64, state State) error {
	m.state[id] = state
	return nil
}

// clone is the jobs as a new transaction sees them.
func (m *memRetryTx) clone() *memRetryTx {
	return &memRetryTx{state: maps.Clone(m.state), key: maps.Clone(m.key)}
}

// jobs are the Jobs of ids as m holds them, with their dependencies.
func (m *memRetryTx) jobs(deps map[int64][]int64, ids ...int64) []*Job {
	var out []*Job
	for _, id := range ids {
		if st, ok := m.state[id]; ok {
			out = append(out, &Job{ID: id, State: st, UniqueKey: m.key[id], DependsOn: deps[id]})
		}
	}
	return out
}

type retryOutcome struct {
	ID     int64
	State  State
	Reason string
}

func outcomes(res []JobRetryResult) []retryOutcome {
	out := make([]retryOutcome, len(res))
	for i, r := range res {
		out[i] = retryOutcome{r.ID, r.State, r.Reason}
	}
	return out
}

func TestRetrierBatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	ctx := context.Background()
	t.Run("named in order, twice, and not found", func(t *testing.T) {
		t.Parallel()
		db := &memRetryTx{state: map[int64]State{1: StateDead, 2: StateRunning}}
		r := NewRetrier(now, false)
		res, err := r.Batch(ctx, db, db.jobs(nil, 1, 2), []int64{2, 1, 9, 1})
		if err != nil {
			t.Fatal(err)
		}
		want := []retryOutcome{{2, "", "it is running"}, {1, StatePending, ""}, {9, "", "not found"}, {1, StatePending, ""}}
		if got := outcomes(res); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if res[2].Job != nil || res[1].Job == nil || res[1].Job != res[3].Job {
			t.Errorf("jobs %v: want the one found for each naming, nil for 9", res)
		}
	})
	t.Run("a dead dependency named later lets its dependent wait", func(t *testing.T) {
		t.Parallel()
		// 1 after 2 after 3, all cancelled by 3's death; named dependents first.
		db := &memRetryTx{state: map[int64]State{1: StateCancelled, 2: StateCancelled, 3: StateDead}}
		deps := map[int64][]int64{1: {2}, 2: {3}}
		res, err := NewRetrier(now, false).Batch(ctx, db, db.jobs(deps, 1, 2, 3), []int64{1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		want := []retryOutcome{{1, StateWaiting, ""}, {2, StateWaiting, ""}, {3, StatePending, ""}}
		if got := outcomes(res); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if want := map[int64]State{1: StateWaiting, 2: StateWaiting, 3: StatePending}; !maps.Equal(db.state, want) {
			t.Errorf("stored %v, want %v", db.state, want)
		}
	})
	t.Run("a dead dependency not retried holds its dependent", func(t *testing.T) {
		t.Parallel()
		db := &memRetryTx{state: map[int64]State{1: StateCancelled, 2: StateDead, 3: StateDead}}
		deps := map[int64][]int64{1: {2}}
		res, err := NewRetrier(now, false).Batch(ctx, db, db.jobs(deps, 1, 3), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []retryOutcome{{1, "", "dependency 2 is dead"}, {3, StatePending, ""}}
		if got := outcomes(res); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if db.state[1] != StateCancelled {
			t.Errorf("job 1 stored %s, want it left cancelled", db.state[1])
		}
	})
	t.Run("a key taken by a job retried before it in the batch", func(t *testing.T) {
		t.Parallel()
		db := &memRetryTx{state: map[int64]State{1: StateDead, 2: StateDead}, key: map[int64]string{1: "k", 2: "k"}}
		res, err := NewRetrier(now, false).Batch(ctx, db, db.jobs(nil, 1, 2), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []retryOutcome{{1, StatePending, ""}, {2, "", `job 1 holds its unique key "k"`}}
		if got := outcomes(res); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})

	// Two batches: the first retries 1 (key k) and 2; the second holds 3
	// (key k) and 4 (after 2).
	twoBatches := func() (*memRetryTx, map[int64][]int64) {
		return &memRetryTx{
			state: map[int64]State{1: StateDead, 2: StateDead, 3: StateDead, 4: StateCancelled},
			key:   map[int64]string{1: "k", 3: "k"},
		}, map[int64][]int64{4: {2}}
	}
	second := []retryOutcome{{3, "", `job 1 holds its unique key "k"`}, {4, StateWaiting, ""}}
	t.Run("a dry run counts what its rolled-back batches retried", func(t *testing.T) {
		t.Parallel()
		db, deps := twoBatches()
		r := NewRetrier(now, true)
		if _, err := r.Batch(ctx, db.clone(), db.jobs(deps, 1, 2), nil); err != nil { // rolled back
			t.Fatal(err)
		}
		res, err := r.Batch(ctx, db.clone(), db.jobs(deps, 3, 4), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcomes(res); !reflect.DeepEqual(got, second) {
			t.Errorf("got %+v, want %+v", got, second)
		}
	})
	t.Run("a real run reads what earlier batches committed as it is now", func(t *testing.T) {
		t.Parallel()
		db, deps := twoBatches()
		r := NewRetrier(now, false)
		if _, err := r.Batch(ctx, db, db.jobs(deps, 1, 2), nil); err != nil {
			t.Fatal(err)
		}
		res, err := r.Batch(ctx, db, db.jobs(deps, 3, 4), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcomes(res); !reflect.DeepEqual(got, second) {
			t.Errorf("got %+v, want %+v", got, second)
		}
		// Between batches a worker ran 1 (it succeeded, freeing k) and 2
		// (it died again): a real run sees that, not what it retried.
		db, deps = twoBatches()
		r = NewRetrier(now, false)
		if _, err := r.Batch(ctx, db, db.jobs(deps, 1, 2), nil); err != nil {
			t.Fatal(err)
		}
		db.state[1], db.state[2] = StateSucceeded, StateDead
		res, err = r.Batch(ctx, db, db.jobs(deps, 3, 4), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []retryOutcome{{3, StatePending, ""}, {4, "", "dependency 2 is dead"}}
		if got := outcomes(res); !reflect.DeepEqual(got, want) {
			t.Errorf("after the batches between: got %+v, want %+v", got, want)
		}
	})
}
