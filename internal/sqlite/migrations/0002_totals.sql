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
-- of its jobs ended dead since (in the order they ended).
ALTER TABLE schedules ADD COLUMN last_success_at INTEGER;
ALTER TABLE schedules ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

UPDATE schedules SET
	last_success_at = (SELECT max(finished_at) FROM jobs
		WHERE schedule_id = schedules.id AND state = 'succeeded'),
	failures = (SELECT count(*) FROM jobs
		WHERE schedule_id = schedules.id AND state = 'dead' AND finished_at > coalesce(
			(SELECT max(finished_at) FROM jobs WHERE schedule_id = schedules.id AND state = 'succeeded'), 0));

CREATE TRIGGER jobs_schedule_health AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state AND new.schedule_id IS NOT NULL AND new.state IN ('succeeded', 'dead') BEGIN
	UPDATE schedules SET
		last_success_at = CASE WHEN new.state = 'succeeded' THEN new.finished_at ELSE last_success_at END,
		failures = CASE WHEN new.state = 'succeeded' THEN 0 ELSE failures + 1 END
	WHERE id = new.schedule_id;
END;
