-- What must outlive the jobs it counts: retention and purge delete final
-- jobs, and a monitor's rate() of the jobs that ended, or a schedule's
-- last success, must not fall back when they do (issue 11, jobq metrics).
-- Both are kept by triggers, as job_counts is, in the statement that
-- ends a job, whichever statement that is.

-- How many jobs ever ended in each final state (queue.FinalStates; a test
-- checks the trigger names that list), per queue. Never decremented: a
-- job retried and ended again counts again, a deleted job stays counted.
CREATE TABLE job_ends (
	queue TEXT    NOT NULL,
	state TEXT    NOT NULL,
	n     INTEGER NOT NULL,
	PRIMARY KEY (queue, state)
) WITHOUT ROWID;

INSERT INTO job_ends (queue, state, n)
SELECT queue, state, count(*) FROM jobs
WHERE state IN ('succeeded', 'dead', 'cancelled') GROUP BY queue, state;

CREATE TRIGGER jobs_count_end AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state AND new.state IN ('succeeded', 'dead', 'cancelled') BEGIN
	INSERT INTO job_ends (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

-- A schedule's health: when one of its jobs last succeeded, and how many
-- of its jobs ended dead since, counted in the order of its ticks (job
-- IDs), not of the ends: health_job_id is the last job counted, and a job
-- older than it (jobq retry of an old tick's job) changes nothing. Its
-- active_since is when it last began to tick (added, or resumed from a
-- pause), which an alert counts from until a success.
ALTER TABLE schedules ADD COLUMN last_success_at INTEGER;
ALTER TABLE schedules ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE schedules ADD COLUMN health_job_id INTEGER;
ALTER TABLE schedules ADD COLUMN active_since INTEGER NOT NULL DEFAULT 0;

-- Existing schedules: from the jobs left, in ID order; active since they
-- were added (when a schedule was last resumed was not kept).
UPDATE schedules SET
	active_since = created_at,
	health_job_id = (SELECT max(id) FROM jobs
		WHERE schedule_id = schedules.id AND state IN ('succeeded', 'dead')),
	last_success_at = (SELECT finished_at FROM jobs
		WHERE schedule_id = schedules.id AND state = 'succeeded' ORDER BY id DESC LIMIT 1),
	failures = (SELECT count(*) FROM jobs
		WHERE schedule_id = schedules.id AND state = 'dead' AND id > coalesce(
			(SELECT max(id) FROM jobs WHERE schedule_id = schedules.id AND state = 'succeeded'), 0));

CREATE TRIGGER jobs_schedule_health AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state AND new.schedule_id IS NOT NULL AND new.state IN ('succeeded', 'dead') BEGIN
	UPDATE schedules SET
		last_success_at = CASE WHEN new.state = 'succeeded' THEN new.finished_at ELSE last_success_at END,
		failures = CASE WHEN new.state = 'succeeded' THEN 0 ELSE failures + 1 END,
		health_job_id = new.id
	WHERE id = new.schedule_id AND new.id >= coalesce(health_job_id, 0);
END;
