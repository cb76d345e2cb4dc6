-- Issue 10: what a new job costs. Every job inserted wrote an entry in
-- each of five indexes beside its row and its event; jobs_queue_ready's
-- was a tenth of a batch enqueue's instructions (callgrind,
-- docs/performance.md "fourth session"). A pending job is due from the
-- moment it is ready, so its entry there served only to find a queue's
-- oldest pending job (jobq stats) and, under clock skew between hosts,
-- its next run: both are now the heads of the queue's priority levels
-- in jobs_ready, one seek a level, as the claim reads them (claim.go,
-- levelRunAt). jobs_queue_ready keeps the jobs that wait for their time:
-- scheduled and retrying (queue.TimedStates, timedCondition;
-- TestIndexesMatchStates).
DROP INDEX jobs_queue_ready;
CREATE INDEX jobs_queue_ready ON jobs (queue, state, run_at)
	WHERE (state = 'scheduled' OR state = 'retrying');
