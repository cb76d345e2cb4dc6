-- Issue 10: a busy queue beside a big one. The claim and the search for
-- the next run time read the ready jobs one queue at a time, so that a
-- backlog in one queue costs another queue's claim nothing, and a paused
-- or limited queue costs nothing at all (claim.go).
--
-- jobs_ready, led by queue: each queue's ready jobs in claim order, the
-- head of which is its next claim. It replaces the index of 0001 that
-- held every queue's ready jobs in one order, which a claim filtered by
-- queue read through to the end. Its condition is readyCondition's, as
-- in 0001 (TestIndexesMatchStates).
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
-- A queue's jobs, newest first: jobq list -q, which otherwise reads every
-- job newer than the queue's oldest to find them. Queue and ID never
-- change, so no transition writes it: an insert and a delete do.
CREATE INDEX jobs_queue ON jobs (queue, id);
