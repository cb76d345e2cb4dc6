-- What operators need: the dead-letter list, progress, jobq stats, a log
-- of transitions to follow.

-- Made again at the end (see there); dropped first so that no trigger
-- names the events table while it is made again.
DROP TRIGGER jobs_transition;

-- Event IDs are never used again: jobq events -f follows the log by ID,
-- and SQLite would give a new row the ID of the newest event once jobq
-- deleted it (with its job: retention, purge). As 0002 did for jobs.
CREATE TABLE events_0003 (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id     INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	from_state TEXT,
	to_state   TEXT    NOT NULL,
	attempt    INTEGER NOT NULL,
	worker     TEXT,
	error      TEXT
);
INSERT INTO events_0003 (id, job_id, at, from_state, to_state, attempt, worker, error)
	SELECT id, job_id, at, from_state, to_state, attempt, worker, error FROM events;
DROP TABLE events;
ALTER TABLE events_0003 RENAME TO events;
CREATE INDEX events_job ON events (job_id, id);

-- The signal that ended a job's last attempt, for the dead-letter list
-- (attempts has it too, one row per attempt).
ALTER TABLE jobs ADD COLUMN signal TEXT;

-- jobq progress, from inside a running job; cleared when the job is
-- claimed again, kept after it ends (where did it die?).
ALTER TABLE jobs ADD COLUMN progress         REAL; -- percent, 0 to 100
ALTER TABLE jobs ADD COLUMN progress_message TEXT;
ALTER TABLE jobs ADD COLUMN progress_at      INTEGER;

-- Jobs per queue and state, so that jobq stats costs the same with a
-- million jobs as with ten: counting them by an index took 60 ms per
-- million here, warm. Kept in the same transaction as every change: the
-- triggers below follow transitions and deletions; JobInsert, the only way
-- in, adds its new jobs with one statement per batch (a trigger per
-- inserted row would cost a batch as much as the events trigger did).
CREATE TABLE job_counts (
	queue TEXT    NOT NULL,
	state TEXT    NOT NULL,
	n     INTEGER NOT NULL,
	PRIMARY KEY (queue, state)
) WITHOUT ROWID;
INSERT INTO job_counts (queue, state, n)
	SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;

-- What counters cannot tell, jobq stats reads from indexes, per queue:
-- the oldest ready job and the scheduled or retrying jobs whose time has
-- come (pending to users) at the head of jobs_queue_ready, however long
-- the backlog; the jobs that ended lately from jobs_finished, queue
-- included so that counting them reads no table row. The extra index
-- costs a batch enqueue about a sixth of its time (docs/performance.md).
CREATE INDEX jobs_queue_ready ON jobs (queue, state, run_at)
	WHERE state IN ('pending', 'scheduled', 'retrying');
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (state, finished_at, queue) WHERE finished_at IS NOT NULL;

CREATE TRIGGER jobs_count_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
	INSERT INTO job_counts (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
END;

-- jobq purge may delete a job that others wait for (--after): they are
-- cancelled, as when it fails, rather than left waiting for ever. A
-- succeeded job deleted (retention) leaves them waiting for the rest.
CREATE TRIGGER jobs_dependency_deleted AFTER DELETE ON jobs
WHEN old.state IS NOT 'succeeded' BEGIN
	UPDATE jobs SET
		state = 'cancelled',
		last_error = 'dependency ' || old.id || ' was deleted',
		finished_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
		updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
	WHERE state = 'waiting'
		AND id IN (SELECT job_id FROM job_deps WHERE depends_on = old.id);
END;

-- The log of transitions also says why a job was cancelled (jobq cancel,
-- a dependency that failed), as it says why one failed. Made again, and
-- last, so that it still fires before the dependency triggers of 0002
-- (see there).
CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (new.id, new.updated_at, old.state, new.state, new.attempts, new.worker,
		CASE WHEN new.state IN ('retrying', 'dead', 'pending', 'cancelled') THEN new.last_error END);
END;
