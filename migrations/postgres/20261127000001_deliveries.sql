-- Every webhook delivery GitHub sent, kept whatever became of it.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY NOT NULL,  -- X-GitHub-Delivery
    event           TEXT NOT NULL,              -- X-GitHub-Event
    action          TEXT,
    installation_id BIGINT,
    repository      TEXT,
    body            BYTEA NOT NULL,
    received_at     BIGINT NOT NULL,           -- Unix milliseconds
    outcome         TEXT NOT NULL DEFAULT 'pending'
                    CHECK (outcome IN ('pending', 'processed', 'ignored', 'failed')),
    outcome_detail  TEXT,
    processed_at    BIGINT
);
