-- A paused or limited queue beside a big one (as the SQLite store's
-- 0003): a claim reads the head of each queue that may start a job, at
-- most its allowance, so that a backlog in one queue costs another
-- queue's claim nothing and a paused queue costs nothing (claim.go).
--
-- jobs_ready, led by queue: each queue's ready jobs in claim order. It
-- replaces the index of 0001 that held every queue's ready jobs in one
-- order, which a claim of some queues read through. Its condition is
-- readyCondition's (TestIndexesMatchStates).
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
