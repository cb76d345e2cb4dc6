-- Issue 10: what a transition costs. The same traces as 0001 and 0002,
-- with the states each trigger tests written as a chain of = ... OR,
-- never as IN with more than two values: SQLite evaluates such an IN
-- through a temporary B-tree of its values, which a statement builds
-- once but a trigger program builds again for every row it fires on
-- (its "once" flags start clear at each firing). Two of them fired on
-- every claimed and every finished job: 12% of a claim and finish's
-- instructions (callgrind, docs/performance.md).
-- The lists are queue.EventErrorStates and queue.FinalStates, as
-- before; TestTriggerMatchesStates and TestEndTriggerMatchesStates
-- check that they agree.
DROP TRIGGER jobs_transition;
CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (new.id, new.updated_at, old.state, new.state, new.run, new.worker,
		CASE WHEN (new.state = 'retrying' OR new.state = 'dead' OR new.state = 'pending' OR new.state = 'cancelled') THEN new.last_error END);
END;

-- jobs.counted says nothing about a job: it exists only to tell the two
-- counting triggers below which statements to leave alone, those that
-- change it. The claim, the finish and the hand-back of a job never
-- started (claim.go) flip it and count their own transitions, in the same
-- transaction, one upsert per queue and state per statement (counts):
-- counted here, a row at a time, they were 8% of SQLite's instructions in
-- a claim and finish of 100 jobs. Every statement that leaves counted as
-- it is, is counted by the triggers, as before: jobq's other commands,
-- raw SQL, and a jobq started before this migration, which claims and
-- finishes with statements that know nothing of counted (a worker in its
-- stop grace period while a newer jobq migrates the file). Skipping every
-- transition into or out of running instead, as this migration first did
-- (unreleased, edited in place), lost that jobq's transitions: running
-- counted too high for ever, so a limited queue stalled, and its ends
-- never counted (TestCountsWithPreUpgradeStatements).
ALTER TABLE jobs ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER jobs_count_end;
CREATE TRIGGER jobs_count_end AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state AND new.counted IS old.counted
	AND (new.state = 'succeeded' OR new.state = 'dead' OR new.state = 'cancelled') BEGIN
	INSERT INTO job_ends (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

DROP TRIGGER jobs_count_transition;
CREATE TRIGGER jobs_count_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state AND new.counted IS old.counted BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
	INSERT INTO job_counts (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

-- The ready indexes of 0003, their condition written as = ... OR: as an
-- IN of three states, every job inserted searched a temporary B-tree
-- twice to know whether it goes in them, and every claim and finish four
-- times a job: a third of the sqlite3 shell's CPU in a bulk insert of
-- the same jobs, a fifth of SQLite's instructions in jobq's claim and
-- finish. Their condition is readyCondition's (TestIndexesMatchStates).
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id)
	WHERE (state = 'pending' OR state = 'scheduled' OR state = 'retrying');
DROP INDEX jobs_queue_ready;
CREATE INDEX jobs_queue_ready ON jobs (queue, state, run_at)
	WHERE (state = 'pending' OR state = 'scheduled' OR state = 'retrying');
