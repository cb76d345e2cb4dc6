-- Issue 10: what a transition costs. The same traces as 0001 and 0002,
-- with the states each trigger tests written as a chain of = ... OR,
-- never as IN with more than two values: SQLite evaluates such an IN
-- through a temporary B-tree of its values, which a statement builds
-- once but a trigger program builds again for every row it fires on
-- (its "once" flags start clear at each firing). Two of them fired on
-- every claimed and every finished job: about a tenth of a claim and a
-- finish, with the partial indexes' IN lists (see JobClaim's finish).
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

DROP TRIGGER jobs_count_end;
CREATE TRIGGER jobs_count_end AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state AND (new.state = 'succeeded' OR new.state = 'dead' OR new.state = 'cancelled') BEGIN
	INSERT INTO job_ends (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;
