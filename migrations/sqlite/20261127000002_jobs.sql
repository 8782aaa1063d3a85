-- The durable job queue: leased, retried with backoff, dead after max_attempts.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts > 0),
    run_after        INTEGER NOT NULL,          -- Unix milliseconds
    lease_owner      TEXT,
    lease_expires_at INTEGER,                   -- Unix milliseconds
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);

CREATE INDEX jobs_claimable ON jobs (state, run_after);
