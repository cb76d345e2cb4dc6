-- Every time is Unix milliseconds; every duration milliseconds.
CREATE TABLE jobs (
	id             INTEGER PRIMARY KEY,
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
	lease_until    INTEGER
);

-- Claiming reads only this index, so its cost does not grow with finished
-- jobs. Queries must name these states literally for SQLite to use it.
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
CREATE INDEX jobs_state ON jobs (state, id);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
	WHERE unique_key IS NOT NULL AND state NOT IN ('succeeded', 'dead', 'cancelled');

-- One row per attempt, kept when the job is retried.
CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY,
	job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	run         INTEGER NOT NULL,
	attempt     INTEGER NOT NULL,
	worker      TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	finished_at INTEGER,
	exit_code   INTEGER,
	signal      TEXT,
	error       TEXT,
	output      BLOB,
	UNIQUE (job_id, run)
);

-- The append-only log of state transitions. A trigger writes every state
-- change, so that no code path can make one without a trace; JobInsert,
-- the only way in, logs new jobs with one statement per batch (a trigger
-- per inserted row cost a third of a batch's time).
CREATE TABLE events (
	id         INTEGER PRIMARY KEY,
	job_id     INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	from_state TEXT,
	to_state   TEXT    NOT NULL,
	attempt    INTEGER NOT NULL,
	worker     TEXT,
	error      TEXT
);
CREATE INDEX events_job ON events (job_id, id);

CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (new.id, new.updated_at, old.state, new.state, new.attempts, new.worker,
		CASE WHEN new.state IN ('retrying', 'dead', 'pending') THEN new.last_error END);
END;

CREATE TRIGGER jobs_claimed AFTER UPDATE OF run ON jobs
WHEN new.run > old.run BEGIN
	INSERT INTO attempts (job_id, run, attempt, worker, started_at)
	VALUES (new.id, new.run, new.attempts, new.worker, new.started_at);
END;
