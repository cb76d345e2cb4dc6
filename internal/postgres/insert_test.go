package postgres

import (
	"errors"
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

// TestBatchAcrossChunks: a unique key repeated in the next chunk gives
// the first job's ID, with one row inserted; the IDs follow the batch's
// order across chunks; and an --after naming a job the same batch
// inserted in an earlier chunk is not found (as within one chunk): the
// batch rolls back whole.
func TestBatchAcrossChunks(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t))
	n := insertChunk + 5
	batch := func(last func(*queue.JobInsertParams)) func(yield func(queue.JobInsertParams, error) bool) {
		return func(yield func(queue.JobInsertParams, error) bool) {
			for i := range n {
				p := testJob("default")
				switch i {
				case 0, insertChunk + 1:
					p.UniqueKey = "k"
				case n - 1:
					last(&p)
				}
				if !yield(p, nil) {
					return
				}
			}
		}
	}
	ids, err := s.JobInsert(t.Context(), batch(func(*queue.JobInsertParams) {}))
	if err != nil {
		t.Fatal(err)
	}
	if ids[insertChunk+1] != ids[0] {
		t.Errorf("job %d of the batch, unique key k as job 0, got ID %d, want %d", insertChunk+1, ids[insertChunk+1], ids[0])
	}
	prev := ids[0]
	for i, id := range ids[1:] {
		if i+1 == insertChunk+1 {
			continue
		}
		if id <= prev {
			t.Fatalf("job %d of the batch got ID %d after %d: not in the batch's order", i+1, id, prev)
		}
		prev = id
	}
	count := func() (jobs int64) {
		if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM jobs").Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	if got := count(); got != int64(n-1) {
		t.Errorf("%d jobs in the database, want %d (the repeated key inserts none)", got, n-1)
	}
	// A second batch whose last job waits for a job of its own first chunk.
	before := count()
	next := ids[n-1] + 1
	_, err = s.JobInsert(t.Context(), batch(func(p *queue.JobInsertParams) { p.After = []int64{next} }))
	if !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("a batch whose last job is --after job %d of its own first chunk: %v, want not found", next, err)
	}
	if got := count(); got != before {
		t.Errorf("%d jobs after the refused batch, %d before: not rolled back", got, before)
	}
}
