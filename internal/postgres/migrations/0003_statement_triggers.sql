-- The traces of 0001 (events, job_counts, job_ends, schedule health,
-- attempts), kept by one trigger per statement instead of three per row:
-- a claim or a finish of 100 jobs ran 200 PL/pgSQL calls of a few
-- statements each, a fifth of the server's CPU in a claim (perf;
-- docs/performance.md, "Issue 12: ... third session"). The rules are
-- 0001's, row for row; what changes is only that rows of one statement
-- are traced together, in job ID order. And, at the end, a claim's check
-- (jobq_claim_again).
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
	-- One statement (the executor's start is most of a small one's
	-- cost): every state change logged (the error for
	-- queue.EventErrorStates) and counted in job_counts, every end in
	-- job_ends, every claim (run up) opening an attempt.
	WITH changed AS (
		SELECT n.id, n.queue, n.state, n.updated_at, n.run, n.worker, n.last_error, n.started_at,
			o.queue AS old_queue, o.state AS old_state, n.run > o.run AS claimed
		FROM new_jobs n JOIN old_jobs o ON o.id = n.id
		WHERE o.state IS DISTINCT FROM n.state OR n.run > o.run
	), logged AS (
		INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
		SELECT id, updated_at, old_state, state, run, worker,
			CASE WHEN state IN ('retrying', 'dead', 'pending', 'cancelled') THEN last_error END
		FROM changed WHERE old_state IS DISTINCT FROM state
		ORDER BY id
	), counted AS (
		INSERT INTO job_counts (queue, state, n)
		SELECT queue, state, sum(d) FROM (
			SELECT old_queue AS queue, old_state AS state, -1 AS d FROM changed WHERE old_state IS DISTINCT FROM state
			UNION ALL
			SELECT queue, state, 1 FROM changed WHERE old_state IS DISTINCT FROM state) c
		GROUP BY queue, state HAVING sum(d) <> 0
		ORDER BY queue, state
		ON CONFLICT (queue, state) DO UPDATE SET n = job_counts.n + excluded.n
	), ended AS (
		INSERT INTO job_ends (queue, state, n)
		SELECT queue, state, count(*) FROM changed
		WHERE old_state IS DISTINCT FROM state AND jobq_final(state)
		GROUP BY queue, state
		ORDER BY queue, state
		ON CONFLICT (queue, state) DO UPDATE SET n = job_ends.n + excluded.n
	)
	INSERT INTO attempts (job_id, run, worker, started_at)
	SELECT id, run, worker, started_at FROM changed WHERE claimed
	ORDER BY id;
	-- A schedule's job that succeeded or died counted in its health, in
	-- job ID order (see 0001's schedules).
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
