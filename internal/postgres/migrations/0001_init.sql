-- jobq's schema on PostgreSQL: internal/sqlite/migrations (0001_init.sql
-- and 0002_totals.sql's job_ends and schedule health, in one file as no
-- jobq that ran this one is released yet) table for table, column for
-- column, so that the two stores read alike and a queue can be copied
-- from one to the other. Every time is Unix milliseconds and every
-- duration milliseconds, as there: the stores then keep the same
-- precision, which the conformance suite pins.
-- Later changes go in new numbered files (0002_...sql), never here once
-- a jobq that ran this one is released.
--
-- Commands, argument lists, directories and errors are bytes (bytea), not
-- text: they need not be UTF-8 (file names), and PostgreSQL's text must be.

CREATE TABLE jobs (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never used again
	queue            text    NOT NULL,
	state            text    NOT NULL,
	priority         bigint  NOT NULL,
	command          bytea   NOT NULL,
	argv             bytea   NOT NULL, -- exactly what is executed, NUL between arguments
	dir              bytea   NOT NULL,
	env              bytea,            -- "K=V" entries, NUL between them; NULL when none
	run_at           bigint  NOT NULL,
	max_attempts     bigint  NOT NULL,
	attempts         bigint  NOT NULL DEFAULT 0,
	timeout_ms       bigint  NOT NULL,
	backoff_ms       bigint  NOT NULL,
	max_backoff_ms   bigint  NOT NULL,
	permanent_exit   text,
	unique_key       text,
	created_at       bigint  NOT NULL,
	updated_at       bigint  NOT NULL,
	started_at       bigint,
	finished_at      bigint,
	exit_code        bigint,
	signal           text,
	last_error       bytea,
	run              bigint  NOT NULL DEFAULT 0, -- claims ever: numbers attempts, fences writes
	worker           text,
	lease_until      bigint,
	cancel_requested boolean NOT NULL DEFAULT false,
	progress         double precision,
	progress_message text,
	progress_at      bigint,
	schedule_id      bigint,
	schedule_tick    bigint
);

-- The partial indexes name queue.ReadyStates and queue.FinalStates
-- literally, as the SQLite schema does (TestIndexesMatchStates).
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
CREATE INDEX jobs_queue_ready ON jobs (queue, state, run_at)
	WHERE state IN ('pending', 'scheduled', 'retrying');
CREATE INDEX jobs_state ON jobs (state, id);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
	WHERE unique_key IS NOT NULL AND state NOT IN ('succeeded', 'dead', 'cancelled');
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_started ON jobs (queue, started_at) WHERE started_at IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (state, finished_at, queue) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_schedule ON jobs (schedule_id, id) WHERE schedule_id IS NOT NULL;

CREATE TABLE job_deps (
	job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	depends_on bigint NOT NULL,
	PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_deps_depends_on ON job_deps (depends_on, job_id);

CREATE TABLE attempts (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	run         bigint NOT NULL,
	worker      text   NOT NULL,
	started_at  bigint NOT NULL,
	finished_at bigint,
	exit_code   bigint,
	signal      text,
	error       bytea,
	output      bytea,
	output_size bigint,
	UNIQUE (job_id, run)
);

-- The append-only log. Its IDs are in commit order, which jobq events -f
-- relies on as it follows the log by ID: every transaction that logs an
-- event holds the store's write lock (postgres.go, writeLock) from before
-- its first event until it commits.
CREATE TABLE events (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id     bigint NOT NULL,
	at         bigint NOT NULL,
	from_state text,
	to_state   text   NOT NULL,
	attempt    bigint NOT NULL,
	worker     text,
	error      bytea,
	schedule   text
);
CREATE INDEX events_job ON events (job_id, id);

CREATE TABLE schedules (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name           text    NOT NULL UNIQUE,
	expr           text    NOT NULL,
	zone           text    NOT NULL,
	overlap        text    NOT NULL,
	jitter_ms      bigint  NOT NULL,
	description    text,
	paused         boolean NOT NULL DEFAULT false,
	next_at        bigint  NOT NULL,
	due_at         bigint  NOT NULL,
	created_at     bigint  NOT NULL,
	updated_at     bigint  NOT NULL,
	queue          text    NOT NULL,
	priority       bigint  NOT NULL,
	command        bytea   NOT NULL,
	argv           bytea   NOT NULL,
	dir            bytea   NOT NULL,
	env            bytea,
	max_attempts   bigint  NOT NULL,
	timeout_ms     bigint  NOT NULL,
	backoff_ms     bigint  NOT NULL,
	max_backoff_ms bigint  NOT NULL,
	permanent_exit text,
	-- Health, kept as its jobs end (jobs_ended below), so that it
	-- outlives the jobs retention deletes: when one last succeeded, and
	-- how many ended dead since, counted in the order of the ticks (job
	-- IDs), not of the ends: health_job_id is the last job counted, and an
	-- older one (jobq retry of an old tick's job) changes nothing.
	last_success_at bigint,
	failures        bigint  NOT NULL DEFAULT 0,
	health_job_id   bigint,
	-- When it last began to tick (added, or resumed from a pause).
	active_since    bigint  NOT NULL
);
CREATE INDEX schedules_due ON schedules (due_at) WHERE NOT paused;

CREATE TABLE queues (
	name           text PRIMARY KEY,
	paused         boolean NOT NULL DEFAULT false,
	concurrency    bigint,
	rate           bigint,
	rate_period_ms bigint
);

CREATE TABLE job_counts (
	queue text   NOT NULL,
	state text   NOT NULL,
	n     bigint NOT NULL,
	PRIMARY KEY (queue, state)
);

-- How many jobs ever ended in each final state (queue.FinalStates), per
-- queue, as SQLite's migration 0002 keeps it: never decremented, so that
-- a job retried and ended again counts again and a deleted job stays
-- counted (jobq metrics: a rate() must not fall back under retention).
CREATE TABLE job_ends (
	queue text   NOT NULL,
	state text   NOT NULL,
	n     bigint NOT NULL,
	PRIMARY KEY (queue, state)
);

-- The traces, as in the SQLite schema: every state change logged and
-- counted, every claim opening an attempt, whichever statement did it.
-- The states whose transitions log the job's last error are
-- queue.EventErrorStates.
CREATE FUNCTION jobs_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (NEW.id, NEW.updated_at, OLD.state, NEW.state, NEW.run, NEW.worker,
		CASE WHEN NEW.state IN ('retrying', 'dead', 'pending', 'cancelled') THEN NEW.last_error END);
	UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
	INSERT INTO job_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = job_counts.n + 1;
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
	FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION jobs_transition();

-- An end, by whichever statement (a finish, a lease taken back, a
-- cancel, one running down the jobs waiting for it): counted in job_ends
-- and, for a schedule's job that succeeded or died, in its schedule's
-- health (see schedules). The states are queue.FinalStates
-- (TestIndexesMatchStates).
CREATE FUNCTION jobs_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO job_ends (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = job_ends.n + 1;
	IF NEW.schedule_id IS NOT NULL AND NEW.state IN ('succeeded', 'dead') THEN
		UPDATE schedules SET
			last_success_at = CASE WHEN NEW.state = 'succeeded' THEN NEW.finished_at ELSE last_success_at END,
			failures = CASE WHEN NEW.state = 'succeeded' THEN 0 ELSE failures + 1 END,
			health_job_id = NEW.id
		WHERE id = NEW.schedule_id AND NEW.id >= coalesce(health_job_id, 0);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_ended AFTER UPDATE OF state ON jobs
	FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
		AND NEW.state IN ('succeeded', 'dead', 'cancelled')) EXECUTE FUNCTION jobs_ended();

CREATE FUNCTION jobs_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
	FOR EACH ROW EXECUTE FUNCTION jobs_count_delete();

CREATE FUNCTION jobs_claimed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO attempts (job_id, run, worker, started_at)
	VALUES (NEW.id, NEW.run, NEW.worker, NEW.started_at);
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_claimed AFTER UPDATE OF run ON jobs
	FOR EACH ROW WHEN (NEW.run > OLD.run) EXECUTE FUNCTION jobs_claimed();
