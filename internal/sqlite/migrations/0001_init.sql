-- jobq's schema. Every time is Unix milliseconds; every duration
-- milliseconds. Later changes go in new numbered files (0002_...sql), never
-- here once a jobq that ran this one is released.
--
-- The triggers below only keep a trace of what the store's statements do
-- (events, job_counts, attempts), whichever statement did it. The rules of
-- the queue, what a job's end does to the jobs waiting for it (--after)
-- included, are the store's Go code (deps.go), where another store can
-- share them and the conformance suite pins them.

-- Job IDs are never used again (AUTOINCREMENT): a job's ID is its
-- idempotency key (JOBQ_JOB_ID) and scripts wait on it, but SQLite would
-- give a new row the largest rowid plus one, the ID of the newest job once
-- jobq deleted it (retention, purge).
CREATE TABLE jobs (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	queue            TEXT    NOT NULL,
	state            TEXT    NOT NULL,
	priority         INTEGER NOT NULL,
	command          TEXT    NOT NULL,
	argv             BLOB    NOT NULL, -- exactly what is executed, NUL between arguments
	dir              TEXT    NOT NULL,
	env              BLOB,             -- "K=V" entries, NUL between them; NULL when none
	run_at           INTEGER NOT NULL,
	max_attempts     INTEGER NOT NULL,
	attempts         INTEGER NOT NULL DEFAULT 0, -- used of max_attempts; retry resets it
	timeout_ms       INTEGER NOT NULL,
	backoff_ms       INTEGER NOT NULL,
	max_backoff_ms   INTEGER NOT NULL,
	permanent_exit   TEXT,             -- "3,64"; NULL when none
	unique_key       TEXT,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	started_at       INTEGER,
	finished_at      INTEGER,
	exit_code        INTEGER,
	signal           TEXT,             -- that ended the last attempt
	last_error       TEXT,
	run              INTEGER NOT NULL DEFAULT 0, -- claims ever: numbers attempts, fences writes
	worker           TEXT,
	lease_until      INTEGER,
	cancel_requested INTEGER NOT NULL DEFAULT 0, -- jobq cancel asks the worker to stop it
	-- jobq progress, from inside a running job; cleared when the job is
	-- claimed again, kept after it ends (where did it die?).
	progress         REAL,             -- percent, 0 to 100
	progress_message TEXT,
	progress_at      INTEGER,
	-- The schedule that made the job (no foreign key: its jobs outlive a
	-- deleted schedule) and the tick it stands for (NULL: schedule run).
	schedule_id      INTEGER,
	schedule_tick    INTEGER
);

-- The partial indexes name their states literally, as SQLite needs to
-- match them to a query's condition; the lists are queue.ReadyStates and
-- queue.FinalStates, and a test checks that they agree.
--
-- Claiming reads only jobs_ready, so its cost does not grow with finished
-- jobs.
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id)
	WHERE state IN ('pending', 'scheduled', 'retrying');
-- What counters cannot tell, jobq stats reads from indexes, per queue: the
-- oldest ready job and the scheduled or retrying jobs whose time has come
-- (pending to users) at the head of jobs_queue_ready, however long the
-- backlog; the jobs that ended lately from jobs_finished, queue included so
-- that counting them reads no table row. jobs_queue_ready costs a batch
-- enqueue about a sixth of its time (docs/performance.md).
CREATE INDEX jobs_queue_ready ON jobs (queue, state, run_at)
	WHERE state IN ('pending', 'scheduled', 'retrying');
CREATE INDEX jobs_state ON jobs (state, id);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
	WHERE unique_key IS NOT NULL AND state NOT IN ('succeeded', 'dead', 'cancelled');
-- Leases to take back, rate limits counted and final jobs past their
-- retention found without scanning all jobs. Partial, so that inserting a
-- job (no start, no end yet) does not touch them.
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_started ON jobs (queue, started_at) WHERE started_at IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (state, finished_at, queue) WHERE finished_at IS NOT NULL;
-- A schedule's jobs, newest first: list --schedule, its last job (the
-- overlap rule) and its health.
CREATE INDEX jobs_schedule ON jobs (schedule_id, id) WHERE schedule_id IS NOT NULL;

-- --after: job_id waits until every depends_on job has succeeded; what a
-- dependency's end does to job_id is deps.go's.
CREATE TABLE job_deps (
	job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	depends_on INTEGER NOT NULL,
	PRIMARY KEY (job_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX job_deps_depends_on ON job_deps (depends_on);

-- One row per attempt, kept when the job is retried; run numbers them
-- over the job's whole life.
CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY,
	job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	run         INTEGER NOT NULL, -- the attempt's number, as users see it
	worker      TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	finished_at INTEGER,
	exit_code   INTEGER,
	signal      TEXT,
	error       TEXT,
	-- While the attempt runs, its worker writes the output so far here
	-- about once a second (jobq logs -f); output_size counts every byte
	-- the command wrote, those cut from output included.
	output      BLOB,
	output_size INTEGER,
	UNIQUE (job_id, run)
);

-- The append-only log of state transitions. Event IDs are never used
-- again (AUTOINCREMENT): jobq events -f follows the log by ID, and SQLite
-- would give a new row the ID of the newest event once jobq deleted it
-- (with its job: retention, purge).
CREATE TABLE events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id     INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	from_state TEXT,
	to_state   TEXT    NOT NULL,
	attempt    INTEGER NOT NULL, -- the job's run
	worker     TEXT,
	error      TEXT,
	schedule   TEXT              -- a tick of this schedule skipped for job_id; from = to
);
CREATE INDEX events_job ON events (job_id, id);

-- jobq schedule: a cron expression and the job each tick enqueues.
-- next_at is the next tick; due_at is when it fires (next_at plus its
-- jitter). Firing moves next_at by compare and set (WHERE next_at = the
-- value read) in the transaction that inserts the tick's job, so that of
-- several workers firing at once one enqueues it: a rule PostgreSQL can
-- enforce the same way.
CREATE TABLE schedules (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	name           TEXT    NOT NULL UNIQUE,
	expr           TEXT    NOT NULL,
	zone           TEXT    NOT NULL, -- IANA name; '' is local time
	overlap        TEXT    NOT NULL, -- skip, allow, replace
	jitter_ms      INTEGER NOT NULL,
	description    TEXT,
	paused         INTEGER NOT NULL DEFAULT 0,
	next_at        INTEGER NOT NULL,
	due_at         INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	-- The job each tick enqueues, as in jobs.
	queue          TEXT    NOT NULL,
	priority       INTEGER NOT NULL,
	command        TEXT    NOT NULL,
	argv           BLOB    NOT NULL,
	dir            TEXT    NOT NULL,
	env            BLOB,
	max_attempts   INTEGER NOT NULL,
	timeout_ms     INTEGER NOT NULL,
	backoff_ms     INTEGER NOT NULL,
	max_backoff_ms INTEGER NOT NULL,
	permanent_exit TEXT
);
CREATE INDEX schedules_due ON schedules (due_at) WHERE paused = 0;

-- One row per queue that has a setting; a queue without one is unpaused
-- and unlimited. A row whose settings are all back to default is deleted.
CREATE TABLE queues (
	name           TEXT PRIMARY KEY,
	paused         INTEGER NOT NULL DEFAULT 0,
	concurrency    INTEGER,  -- running jobs at most, across all workers; NULL: no limit
	rate           INTEGER,  -- jobs started at most per rate_period_ms; NULL: no limit
	rate_period_ms INTEGER
) WITHOUT ROWID;

-- Jobs per queue and state, so that jobq stats costs the same with a
-- million jobs as with ten: counting them by an index took 60 ms per
-- million here, warm.
CREATE TABLE job_counts (
	queue TEXT    NOT NULL,
	state TEXT    NOT NULL,
	n     INTEGER NOT NULL,
	PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- The traces: every state change is logged and counted, and every claim
-- opens an attempt, in the statement that makes it, whichever statement
-- that is, so that no code path can change a state without a trace.
-- JobInsert, the only way in, logs and counts its new jobs itself with one
-- statement per batch (a trigger per inserted row cost a third of a
-- batch's time).
--
-- The order of events is the order of statements: each statement's own
-- transitions are logged by these triggers, which write only other tables,
-- so the order in which SQLite fires them (which it does not document)
-- changes nothing one can see. The statements that settle the jobs waiting
-- for a job (deps.go) run after the statement that ended it: a cause is
-- logged before its effects.
-- The states whose transitions log the job's last error are
-- queue.EventErrorStates; a test checks that they agree.
CREATE TRIGGER jobs_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	INSERT INTO events (job_id, at, from_state, to_state, attempt, worker, error)
	VALUES (new.id, new.updated_at, old.state, new.state, new.run, new.worker,
		CASE WHEN new.state IN ('retrying', 'dead', 'pending', 'cancelled') THEN new.last_error END);
END;

CREATE TRIGGER jobs_count_transition AFTER UPDATE OF state ON jobs
WHEN old.state IS NOT new.state BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
	INSERT INTO job_counts (queue, state, n) VALUES (new.queue, new.state, 1)
		ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
	UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
END;

CREATE TRIGGER jobs_claimed AFTER UPDATE OF run ON jobs
WHEN new.run > old.run BEGIN
	INSERT INTO attempts (job_id, run, worker, started_at)
	VALUES (new.id, new.run, new.worker, new.started_at);
END;
