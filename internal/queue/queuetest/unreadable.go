package queuetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobq/jobq/internal/queue"
)

// RunUnreadableLease is the case of a running job of a lost worker whose
// row the store cannot decode: corrupt writes bad data into job id's row
// as another program might (raw SQL: each store knows its own), and
// wantErr is part of the error the store then gives about it. Taking
// back expired leases must end that job dead, its last error saying
// why, settle the jobs waiting for it, and go on: take back the other
// expired jobs and claim, in the same call, and not find the job again.
// It is not in Run: the suite speaks only through queue.Store, which
// cannot write bad data.
func RunUnreadableLease(t *testing.T, s queue.Store, corrupt func(t *testing.T, id int64), wantErr string) {
	ids := insert(t, s, newJob("lost"), newJob("lost"))
	waiting := insertOne(t, s, after(newJob("next"), ids[0]))
	ready := insertOne(t, s, newJob("ready"))
	lost := claim(t, s, queue.JobClaimParams{Queues: []string{"lost"}, Limit: 2, Now: t0, LeaseUntil: t0.Add(30 * time.Second)}).Jobs
	if len(lost) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(lost))
	}
	bad, other := lost[0], lost[1]
	corrupt(t, bad.ID)

	now := t0.Add(time.Minute)
	var handed []int64
	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{
		Limit: 1, Queues: []string{"ready"}, Worker: "host-c:9", Now: now, LeaseUntil: now.Add(30 * time.Second),
		Expired: func(job *queue.Job) queue.JobFinishParams {
			handed = append(handed, job.ID)
			return queue.LeaseExpired(job, now, 0.5)
		},
	})
	if err != nil {
		t.Fatalf("taking back leases with job %d unreadable: %v", bad.ID, err)
	}
	if !slices.Equal(handed, []int64{other.ID}) {
		t.Errorf("Expired was handed jobs %v, want only the readable %d", handed, other.ID)
	}
	var got *queue.JobFinishParams
	for i, p := range res.Expired {
		if p.ID == bad.ID {
			got = &res.Expired[i]
		}
	}
	switch {
	case len(res.Expired) != 2 || got == nil:
		t.Fatalf("res.Expired = %+v, want jobs %d and %d", res.Expired, bad.ID, other.ID)
	case got.State != queue.StateDead || got.Run != bad.Run || got.Attempts != bad.Attempts ||
		!strings.Contains(got.Error, "lease expired") || !strings.Contains(got.Error, wantErr) || !names(got.Error, bad.ID):
		t.Errorf("the unreadable job's outcome: %+v; want dead at run %d, attempts %d, its error naming it and %q", *got, bad.Run, bad.Attempts, wantErr)
	}
	if len(res.Jobs) != 1 || res.Jobs[0].ID != ready {
		t.Errorf("claimed %d jobs beside the take-back, want job %d", len(res.Jobs), ready)
	}
	if st := get(t, s, other.ID).State; st != queue.StateRetrying {
		t.Errorf("the other expired job is %s, want retrying", st)
	}
	if w := get(t, s, waiting); w.State != queue.StateCancelled {
		t.Errorf("the job waiting for the unreadable one is %s, want cancelled", w.State)
	}
	as := attempts(t, s, bad.ID)
	if len(as) != 1 || as[0].FinishedAt.IsZero() || as[0].Error != got.Error {
		t.Errorf("the unreadable job's history: %+v; want its attempt ended with its error", as)
	}
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: now, RecentSince: t0})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(stats, func(q queue.QueueStats) bool { return q.Name == "lost" })
	if i < 0 || stats[i].Counts[queue.StateDead] != 1 || stats[i].Counts[queue.StateRunning] != 0 {
		t.Errorf("queue stats %+v; want queue lost with one job dead, none running", stats)
	}

	// Ended: the next pass does not find it again.
	handed = nil
	res, err = s.JobClaim(t.Context(), queue.JobClaimParams{
		Worker: "host-c:9", Now: now.Add(time.Hour), LeaseUntil: now.Add(2 * time.Hour),
		Expired: func(job *queue.Job) queue.JobFinishParams {
			handed = append(handed, job.ID)
			return queue.LeaseExpired(job, now, 0.5)
		},
	})
	if err != nil || len(res.Expired) != 1 || res.Expired[0].ID != ready {
		t.Errorf("the next pass: %+v, %v; want only job %d (claimed just before) taken back", res, err, ready)
	}
}

// RunUnreadableClaim is the case of a ready job whose row the store
// cannot decode (corrupt and wantErr as in RunUnreadableLease), claimed
// with a readable job of its queue: the claim must end it dead in its
// own transaction, its attempt used (JobClaimResult.Unreadable), settle
// the jobs waiting for it, return the readable job to run, and not
// meet it again: the next claim takes another queue's job. With
// limited, its queue has a concurrency limit (a PostgreSQL claim then
// goes a step at a time).
func RunUnreadableClaim(t *testing.T, s queue.Store, corrupt func(t *testing.T, id int64), wantErr string, limited bool) {
	if limited {
		n := 5
		if err := s.QueueSet(t.Context(), queue.QueueSetParams{Name: "bad", Concurrency: &n}); err != nil {
			t.Fatal(err)
		}
	}
	ids := insert(t, s, newJob("bad"), newJob("bad"))
	bad, good := ids[0], ids[1]
	waiting := insertOne(t, s, after(newJob("next"), bad))
	other := insertOne(t, s, newJob("other"))
	corrupt(t, bad)

	res, err := s.JobClaim(t.Context(), queue.JobClaimParams{Limit: 2, Worker: worker, Now: t0, LeaseUntil: t0.Add(30 * time.Second)})
	if err != nil {
		t.Fatalf("a claim that meets job %d, unreadable: %v", bad, err)
	}
	if len(res.Jobs) != 1 || res.Jobs[0].ID != good {
		t.Errorf("claimed %d jobs, want the readable job %d", len(res.Jobs), good)
	}
	if len(res.Unreadable) != 1 {
		t.Fatalf("res.Unreadable = %+v, want job %d", res.Unreadable, bad)
	}
	if p := res.Unreadable[0]; p.ID != bad || p.State != queue.StateDead || p.Run != 1 || p.Attempts != 1 ||
		!strings.Contains(p.Error, "cannot be read") || !strings.Contains(p.Error, wantErr) || !names(p.Error, bad) {
		t.Errorf("the unreadable job's outcome: %+v; want job %d dead at run 1, attempts 1, its error naming it and %q", p, bad, wantErr)
	}
	if w := get(t, s, waiting); w.State != queue.StateCancelled {
		t.Errorf("the job waiting for the unreadable one is %s, want cancelled", w.State)
	}
	// Read, it shows what can be read, and why the rest cannot.
	if j := get(t, s, bad); j.ID != bad || j.State != queue.StateDead || j.Queue != "bad" ||
		!strings.Contains(j.Unreadable, wantErr) || j.LastError != res.Unreadable[0].Error {
		t.Errorf("JobGet of the unreadable job: %+v; want it dead in queue bad, its last error, Unreadable saying %q", j, wantErr)
	}
	if ids := list(t, s, queue.JobFilter{States: []queue.State{queue.StateDead}, Now: t0}); !slices.Equal(ids, []int64{bad}) {
		t.Errorf("JobList of dead jobs: %v, want the unreadable job %d", ids, bad)
	}
	if as := attempts(t, s, bad); len(as) != 1 || as[0].FinishedAt.IsZero() || as[0].Error != res.Unreadable[0].Error {
		t.Errorf("the unreadable job's history: %+v; want its attempt ended with its error", as)
	}
	stats, err := s.QueueStats(t.Context(), queue.QueueStatsParams{Now: t0, RecentSince: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(stats, func(q queue.QueueStats) bool { return q.Name == "bad" })
	if i < 0 || stats[i].Counts[queue.StateDead] != 1 || stats[i].Counts[queue.StateRunning] != 1 || stats[i].Counts[queue.StatePending] != 0 {
		t.Errorf("queue stats %+v; want queue bad with one job dead, one running", stats)
	}

	// Ended: the next claim takes the other queue's job.
	res, err = s.JobClaim(t.Context(), queue.JobClaimParams{Limit: 2, Worker: worker, Now: t0, LeaseUntil: t0.Add(30 * time.Second)})
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].ID != other || len(res.Unreadable) != 0 {
		t.Errorf("the next claim: %+v, %v; want job %d alone", res, err, other)
	}
}
