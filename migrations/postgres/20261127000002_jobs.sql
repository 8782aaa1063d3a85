-- The durable job queue: leased, retried with backoff, dead after max_attempts.
CREATE TABLE jobs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL CHECK (max_attempts > 0),
    run_after        BIGINT NOT NULL,          -- Unix milliseconds
    lease_owner      TEXT,
    lease_expires_at BIGINT,                   -- Unix milliseconds
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);

CREATE INDEX jobs_claimable ON jobs (state, run_after);
