package sqlite

import (
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// TestDeleteLeavesNoHistory: a deleted job leaves no row behind, in any
// table, while the jobs kept keep theirs.
func TestDeleteLeavesNoHistory(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	ids, err := s.JobInsert(ctx, queue.Jobs(testJob("a"), testJob("b")))
	if err != nil {
		t.Fatal(err)
	}
	p := testJob("c")
	p.After = ids
	after, err := s.JobInsert(ctx, queue.Jobs(p))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.JobClaim(ctx, queue.JobClaimParams{Limit: 2, Queues: []string{"a", "b"}, Now: t0, Worker: "w", LeaseUntil: t0.Add(time.Minute)})
	if err != nil || len(res.Jobs) != 2 {
		t.Fatalf("claim: %v", err)
	}
	var finish []queue.JobFinishParams
	for _, j := range res.Jobs {
		finish = append(finish, queue.JobFinishParams{ID: j.ID, Run: j.Run, State: queue.StateDead, Attempts: 1, FinishedAt: t0})
	}
	if _, err := s.JobClaim(ctx, queue.JobClaimParams{Now: t0, Finish: finish}); err != nil {
		t.Fatal(err)
	}
	// c was cancelled with its dependencies: delete a and c, keep b.
	n, err := s.JobDelete(ctx, queue.JobFilter{States: []queue.State{queue.StateDead, queue.StateCancelled}, Queues: []string{"a", "c"}, Before: t0.Add(time.Second), Limit: 10})
	if err != nil || n != 2 {
		t.Fatalf("JobDelete = %d, %v; want 2", n, err)
	}
	for _, tt := range []struct {
		table, column string
		id            int64
		want          int
	}{
		{"attempts", "job_id", ids[0], 0},
		{"events", "job_id", ids[0], 0},
		{"events", "job_id", after[0], 0},
		{"job_deps", "job_id", after[0], 0},
		{"attempts", "job_id", ids[1], 1},
		{"events", "job_id", ids[1], 3},
	} {
		var got int
		if err := s.reader.QueryRow("SELECT count(*) FROM "+tt.table+" WHERE "+tt.column+" = ?", tt.id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s of job %d: %d rows, want %d", tt.table, tt.id, got, tt.want)
		}
	}
}
