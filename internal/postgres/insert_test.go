package postgres

import (
	"fmt"
	"testing"

	"github.com/jobq/jobq/internal/postgres/pgtest"
	"github.com/jobq/jobq/internal/queue"
)

// TestBigBatchIdleTimeout: a batch many chunks long goes in under a short
// idle_in_transaction_session_timeout, as every job of it: the client's
// work between two statements is a chunk's (insertChunk: 22 ms measured,
// 200 ms under -race), not the batch's. Settled and built as one
// statement, 200,000 jobs kept the session idle past the 300 ms set here
// (2.4 s under -race), and the server ended it.
func TestBigBatchIdleTimeout(t *testing.T) {
	t.Parallel()
	idle := 300 * raceSlowdown
	s := open(t, fmt.Sprintf("%s&idle_in_transaction_session_timeout=%d", pgtest.NewDatabase(t), idle))
	const n = 200_000
	jobs := func(yield func(queue.JobInsertParams, error) bool) {
		for i := range n {
			p := testJob("default")
			p.Command = fmt.Sprint("echo ", i)
			p.Argv = queue.ShellArgv(p.Command)
			if !yield(p, nil) {
				return
			}
		}
	}
	ids, err := s.JobInsert(t.Context(), jobs)
	if err != nil {
		t.Fatalf("JobInsert of %d jobs: %v", n, err)
	}
	if len(ids) != n {
		t.Fatalf("JobInsert of %d jobs returned %d IDs", n, len(ids))
	}
	for i := range ids[1:] {
		if ids[i+1] != ids[i]+1 {
			t.Fatalf("IDs %d and %d of the batch are %d, %d: not in the batch's order", i, i+1, ids[i], ids[i+1])
		}
	}
	var jobsN, events, counted, last int64
	var lastCmd string
	err = s.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM events),
		(SELECT sum(n) FROM job_counts), (SELECT max(id) FROM jobs),
		(SELECT convert_from(command, 'UTF8') FROM jobs ORDER BY id DESC LIMIT 1)`).Scan(&jobsN, &events, &counted, &last, &lastCmd)
	if err != nil {
		t.Fatal(err)
	}
	if jobsN != n || events != n || counted != n || last != ids[n-1] || lastCmd != fmt.Sprint("echo ", n-1) {
		t.Errorf("%d jobs, %d events, %d counted, last ID %d (%q); want %d of each, last %d (%q)",
			jobsN, events, counted, last, lastCmd, n, ids[n-1], fmt.Sprint("echo ", n-1))
	}
}
