-- What jobq work needs: queue settings shared by every worker, job
-- dependencies, cancellation of running jobs, leases taken back, IDs never
-- used twice.

-- Job IDs are never used again. A job's ID is its idempotency key
-- (JOBQ_JOB_ID) and scripts wait on it, but SQLite gives a new row the
-- largest rowid plus one: the ID of the newest job, once jobq deleted it
-- (retention, purge). AUTOINCREMENT remembers the largest ever given.
-- SQLite cannot add it to a table, so jobs is made again as
-- https://www.sqlite.org/lang_altertable.html#otheralter says (migrate
-- turns foreign keys off around it), with cancel_requested added: jobq
-- cancel on a running job asks its worker to stop it.
CREATE TABLE jobs_0002 (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	queue          TEXT    NOT NULL,
	state          TEXT    NOT NULL,
	priority       INTEGER NOT NULL,
	command        TEXT    NOT NULL,
	argv           BLOB    NOT NULL, -- exactly what is executed, NUL between arguments
	dir            TEXT    NOT NULL,
	env            BLOB,             -- "K=V" entries, NUL between them; NULL when none
	run_at         INTEGER NOT NULL,
	max_attempts   INTEGER NOT NULL,
	attempts       INTEGER NOT NULL DEFAULT 0, -- used; retry resets it
	timeout_ms     INTEGER NOT NULL,
	backoff_ms     INTEGER NOT NULL,
	max_backoff_ms INTEGER NOT NULL,
	permanent_exit TEXT,             -- "3,64"; NULL when none
	unique_key     TEXT,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	started_at     INTEGER,
	finished_at    INTEGER,
	exit_code      INTEGER,
	last_error     TEXT,
	run            INTEGER NOT NULL DEFAULT 0, -- claims ever: numbers attempts, fences writes
	worker         TEXT,
	lease_until    INTEGER,
	cancel_requested INTEGER NOT NULL DEFAULT 0
);
INSERT INTO jobs_0002 (id, queue, state, priority, command, argv, dir, env, run_at,
	max_attempts, attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, updated_at, started_at, finished_at, exit_code, last_error,
	run, worker, lease_until)
SELECT id, queue, state, priority, command, argv, dir, env, run_at,
	max_attempts, attempts, timeout_ms, backoff_ms, max_backoff_ms, permanent_exit,
	unique_key, created_at, updated_at, started_at, finished_at, exit_code, last_error,
	run, worker, lease_until
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_0002 RENAME TO jobs;

-- The indexes and the trigger of 0001, gone with the old table (see 0001
-- for why they are as they are); jobs_transition comes last, below.
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
CREATE INDEX jobs_state ON jobs (state, id);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
	WHERE unique_key IS NOT NULL AND state NOT IN ('succeeded', 'dead', 'cancelled');
CREATE TRIGGER jobs_claimed AFTER UPDATE OF run ON jobs
WHEN new.run > old.run BEGIN
	INSERT INTO attempts (job_id, run, attempt, worker, started_at)
	VALUES (new.id, new.run, new.attempts, new.worker, new.started_at);
END;

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
-- SQLite fires the triggers of a table newest first: made last, the
-- trigger of 0001 that logs a transition fires before the ones above
-- change the jobs waiting for it (whose own transitions it logs after).
CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (new.id, new.updated_at, old.state, new.state, new.attempts, new.worker,
		CASE WHEN new.state IN ('retrying', 'dead', 'pending') THEN new.last_error END);
END;
