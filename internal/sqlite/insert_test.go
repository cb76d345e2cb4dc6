package sqlite

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestInsertAllOrNothing: a failure part way through a batch leaves
// nothing behind.
func TestInsertAllOrNothing(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.JobInsert(ctx, queue.Jobs(testJob("default"), testJob("default"))); err == nil {
		t.Fatal("JobInsert with a cancelled context succeeded")
	}
	// A trigger that refuses the third row makes the batch fail part way.
	if _, err := s.writer.Exec(`CREATE TEMP TRIGGER fail_third BEFORE INSERT ON jobs
		WHEN new.queue = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := s.JobInsert(t.Context(), queue.Jobs(testJob("a"), withUnique(testJob("b"), "k"), testJob("poison")))
	if err == nil || !strings.Contains(err.Error(), "poisoned") {
		t.Fatalf("JobInsert with a poisoned row: %v", err)
	}
	jobs, err := s.JobList(t.Context(), queue.JobFilter{Now: t0})
	if err != nil || len(jobs) != 0 {
		t.Errorf("after the failed batch: %d jobs, %v; want none", len(jobs), err)
	}
	var n int
	if err := s.reader.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the failed batch: %d events, %v; want none", n, err)
	}
}

func withUnique(p queue.JobInsertParams, key string) queue.JobInsertParams {
	p.UniqueKey = key
	return p
}

// TestInsertWaitingState: a caller that passes State waiting itself gets
// the state the dependencies call for, not a panic or a job that waits
// for ever.
func TestInsertWaitingState(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, queue.Jobs(testJob("dead"), testJob("ok")))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []queue.State{queue.StateDead, queue.StateSucceeded} {
		res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 1, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("claim: %v", err)
		}
		j := res.Jobs[0]
		if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: []queue.JobFinishParams{{ID: j.ID, Run: j.Run, State: st, Attempts: 1, FinishedAt: t0}}}); err != nil {
			t.Fatal(err)
		}
	}
	waiting := func(after int64) queue.JobInsertParams {
		p := testJob("x")
		p.State, p.After = queue.StateWaiting, []int64{after}
		return p
	}
	got, err := s.JobInsert(ctx, queue.Jobs(waiting(ids[0]), waiting(ids[1])))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []queue.State{queue.StateCancelled, queue.StatePending} {
		if j, err := s.JobGet(ctx, got[i]); err != nil || j.State != want {
			t.Errorf("job %d inserted waiting: %v, %v; want %s", i, j.State, err, want)
		}
	}
}

// TestInsertPlainRows: rows inserted by insertPlain, which binds the
// command alone and builds argv in SQL, are stored byte for byte as rows
// that bind every value.
func TestInsertPlainRows(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	cmds := []string{"true", "echo 'a b' \"c\"", "printf '%s' é"}
	var plain, other []queue.JobInsertParams
	for _, c := range cmds {
		p := testJob("default")
		p.Command, p.Argv = c, queue.ShellArgv(c)
		plain = append(plain, p)
		other = append(other, p)
	}
	other = append(other, withUnique(testJob("default"), "k")) // makes its chunk not plain
	for _, jobs := range [][]queue.JobInsertParams{plain, other} {
		if _, err := s.JobInsert(t.Context(), queue.Jobs(jobs...)); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(first, last int) []string {
		var got []string
		r, err := s.reader.Query(`SELECT quote(command), quote(argv), quote(unique_key), queue, state
			FROM jobs WHERE id BETWEEN ? AND ? ORDER BY id`, first, last)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var c, a, k, q, st string
			if err := r.Scan(&c, &a, &k, &q, &st); err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.Join([]string{c, a, k, q, st}, " "))
		}
		return got
	}
	if got, want := rows(1, 3), rows(4, 6); !slices.Equal(got, want) {
		t.Errorf("plain rows\n%q\nwant as bound whole\n%q", got, want)
	}
}
