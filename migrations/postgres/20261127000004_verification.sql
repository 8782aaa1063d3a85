-- Verification and landing: the task states past "proposed", each lens's and gate's
-- verdict per head commit, and the per-repository merge lock.

ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check
    CHECK (state IN ('planned', 'queued', 'working', 'proposed', 'verifying', 'refuted',
                     'verified', 'ready', 'merging', 'merged', 'failed', 'needs_human',
                     'cancelled'));
ALTER TABLE tasks ADD COLUMN merged_sha TEXT;  -- the commit the merge made on the base
CREATE INDEX tasks_by_head ON tasks (head_sha);

-- What one lens or gate concluded about one head commit of a task. A new push gives a
-- new head, so old verdicts simply stop applying; re-verifying a head replaces its rows.
CREATE TABLE verdicts (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id           BIGINT NOT NULL REFERENCES tasks (id),
    head_sha          TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('lens', 'gate', 'check')),
    name              TEXT NOT NULL,             -- lens, gate or required check
    outcome           TEXT NOT NULL,             -- upheld/refuted, passed/warned/failed/needs_human
    summary           TEXT NOT NULL,
    detail            TEXT NOT NULL,             -- JSON: the Verdict or GateResult
    output            TEXT,                      -- the reviewer's transcript tail or command output
    review_id         BIGINT,                    -- the PR review posted for this lens and head
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (task_id, head_sha, kind, name)
);

-- One merge at a time per repository, across processes: a row is a held lock until
-- it expires.
CREATE TABLE merge_locks (
    repo              TEXT PRIMARY KEY,
    holder            TEXT NOT NULL,
    expires_at        BIGINT NOT NULL
);
