-- The traces of 0001 (events, job_counts, job_ends, schedule health,
-- attempts), kept by one trigger per statement instead of three per row
-- (and, at the end, a claim's check, jobq_claim_again):
-- a claim or a finish of 100 jobs ran 200 PL/pgSQL calls of a few
-- statements each, most of the server's work for it (docs/performance.md,
-- "Issue 12: ... third session"). The rules are 0001's, row for row;
-- what changes is only that rows of one statement are traced together,
-- in job ID order.
--
-- A trigger with transition tables cannot name columns (UPDATE OF
-- state) nor have a WHEN clause, so it runs after every UPDATE of jobs
-- (heartbeats, progress too) and finds the rows whose state or run
-- changed itself.
DROP TRIGGER jobs_transition ON jobs;
DROP TRIGGER jobs_ended ON jobs;
DROP TRIGGER jobs_claimed ON jobs;
DROP FUNCTION jobs_transition();
DROP FUNCTION jobs_ended();
DROP FUNCTION jobs_claimed();

-- The final states, queue.FinalStates (TestIndexesMatchStates).
CREATE FUNCTION jobq_final(text) RETURNS boolean LANGUAGE sql IMMUTABLE
	AS $$ SELECT $1 IN ('succeeded', 'dead', 'cancelled') $$;

CREATE FUNCTION jobs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	-- Every state change logged (the error for queue.EventErrorStates)
	-- and counted.
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	SELECT n.id, n.updated_at, o.state, n.state, n.run, n.worker,
		CASE WHEN n.state IN ('retrying', 'dead', 'pending', 'cancelled') THEN n.last_error END
	FROM new_jobs n JOIN old_jobs o ON o.id = n.id
	WHERE o.state IS DISTINCT FROM n.state
	ORDER BY n.id;
	INSERT INTO job_counts (queue, state, n)
	SELECT queue, state, sum(d) FROM (
		SELECT o.queue, o.state, -1 AS d FROM new_jobs n JOIN old_jobs o ON o.id = n.id
		WHERE o.state IS DISTINCT FROM n.state
		UNION ALL
		SELECT n.queue, n.state, 1 FROM new_jobs n JOIN old_jobs o ON o.id = n.id
		WHERE o.state IS DISTINCT FROM n.state) c
	GROUP BY queue, state HAVING sum(d) <> 0
	ORDER BY queue, state
	ON CONFLICT (queue, state) DO UPDATE SET n = job_counts.n + excluded.n;
	-- Every end counted in job_ends; a schedule's job that succeeded or
	-- died counted in its health, in job ID order (see 0001's schedules).
	INSERT INTO job_ends (queue, state, n)
	SELECT n.queue, n.state, count(*) FROM new_jobs n JOIN old_jobs o ON o.id = n.id
	WHERE o.state IS DISTINCT FROM n.state AND jobq_final(n.state)
	GROUP BY n.queue, n.state
	ORDER BY n.queue, n.state
	ON CONFLICT (queue, state) DO UPDATE SET n = job_ends.n + excluded.n;
	FOR r IN SELECT n.id, n.state, n.finished_at, n.schedule_id FROM new_jobs n JOIN old_jobs o ON o.id = n.id
		WHERE o.state IS DISTINCT FROM n.state AND n.schedule_id IS NOT NULL AND n.state IN ('succeeded', 'dead')
		ORDER BY n.id
	LOOP
		UPDATE schedules SET
			last_success_at = CASE WHEN r.state = 'succeeded' THEN r.finished_at ELSE last_success_at END,
			failures = CASE WHEN r.state = 'succeeded' THEN 0 ELSE failures + 1 END,
			health_job_id = r.id
		WHERE id = r.schedule_id AND r.id >= coalesce(health_job_id, 0);
	END LOOP;
	-- Every claim opens an attempt.
	INSERT INTO attempts (job_id, run, worker, started_at)
	SELECT n.id, n.run, n.worker, n.started_at FROM new_jobs n JOIN old_jobs o ON o.id = n.id
	WHERE n.run > o.run
	ORDER BY n.id;
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_changed AFTER UPDATE ON jobs
	REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
	FOR EACH STATEMENT EXECUTE FUNCTION jobs_changed();

-- jobq_claim_again aborts a claim's transaction sent as one batch
-- (claim.go, claimFast) when what it found calls for decisions made one
-- step at a time: the claim is then made again that way.
CREATE FUNCTION jobq_claim_again(boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF $1 THEN
		RAISE EXCEPTION 'jobq: claim again, one step at a time' USING ERRCODE = 'JQ001';
	END IF;
END $$;
