-- What jobq work needs: queue settings shared by every worker, job
-- dependencies, cancellation of running jobs, leases taken back.

-- One row per queue that has a setting; a queue without one is unpaused
-- and unlimited.
CREATE TABLE queues (
	name           TEXT PRIMARY KEY,
	paused         INTEGER NOT NULL DEFAULT 0,
	concurrency    INTEGER,  -- running jobs at most, across all workers; NULL: no limit
	rate           INTEGER,  -- jobs started at most per rate_period_ms; NULL: no limit
	rate_period_ms INTEGER
) WITHOUT ROWID;

-- --after: job_id waits until every depends_on job has succeeded.
CREATE TABLE job_deps (
	job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	depends_on INTEGER NOT NULL,
	PRIMARY KEY (job_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX job_deps_depends_on ON job_deps (depends_on);

-- jobq cancel on a running job asks its worker to stop it.
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- Leases to take back, rate limits counted and final jobs past their
-- retention found without scanning all jobs. Partial, so that inserting a
-- job (no start, no end yet) does not touch them.
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_started ON jobs (queue, started_at) WHERE started_at IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;

-- Dependencies settle in the same transaction as the state change that
-- settles them, whichever command made it. recursive_triggers is on, so
-- a cancellation runs down a whole chain of waiting jobs.
CREATE TRIGGER jobs_dependency_succeeded AFTER UPDATE OF state ON jobs
WHEN new.state = 'succeeded' AND old.state IS NOT 'succeeded' BEGIN
	UPDATE jobs SET
		state = CASE WHEN run_at > new.updated_at THEN 'scheduled' ELSE 'pending' END,
		updated_at = new.updated_at
	WHERE state = 'waiting'
		AND id IN (SELECT job_id FROM job_deps WHERE depends_on = new.id)
		AND NOT EXISTS (
			SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
			WHERE d.job_id = jobs.id AND p.state IS NOT 'succeeded');
END;

CREATE TRIGGER jobs_dependency_failed AFTER UPDATE OF state ON jobs
WHEN new.state IN ('dead', 'cancelled') AND old.state IS NOT new.state BEGIN
	UPDATE jobs SET
		state = 'cancelled',
		last_error = 'dependency ' || new.id || ' ended ' || new.state,
		finished_at = new.updated_at,
		updated_at = new.updated_at
	WHERE state = 'waiting'
		AND id IN (SELECT job_id FROM job_deps WHERE depends_on = new.id);
END;

-- The log of transitions reads in order, a cause before its effects.
-- SQLite fires the triggers of a table newest first: made again last, the
-- trigger of 0001 that logs a transition fires before the ones above
-- change the jobs waiting for it (whose own transitions it logs after).
DROP TRIGGER jobs_transition;
CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (new.id, new.updated_at, old.state, new.state, new.attempts, new.worker,
		CASE WHEN new.state IN ('retrying', 'dead', 'pending') THEN new.last_error END);
END;
