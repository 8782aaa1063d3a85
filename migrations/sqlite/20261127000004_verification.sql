-- Verification and landing: the task states past "proposed", each lens's and gate's
-- verdict per head commit, and the per-repository merge lock.

-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE tasks_v4 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER NOT NULL REFERENCES runs (id),
    position          INTEGER NOT NULL,
    title             TEXT NOT NULL,
    instructions      TEXT NOT NULL,
    paths             TEXT NOT NULL,
    depends_on        TEXT NOT NULL,
    branch            TEXT NOT NULL,
    state             TEXT NOT NULL
                      CHECK (state IN ('planned', 'queued', 'working', 'proposed',
                                       'verifying', 'refuted', 'verified', 'ready',
                                       'merging', 'merged', 'failed', 'needs_human',
                                       'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    pr_number         INTEGER,
    pr_node_id        TEXT,
    head_sha          TEXT,
    last_reason       TEXT,
    summary           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    merged_sha        TEXT,                      -- the commit the merge made on the base
    UNIQUE (run_id, position)
);

INSERT INTO tasks_v4 (id, run_id, position, title, instructions, paths, depends_on, branch,
                      state, attempts, max_attempts, pr_number, pr_node_id, head_sha,
                      last_reason, summary, created_at, updated_at)
SELECT id, run_id, position, title, instructions, paths, depends_on, branch, state,
       attempts, max_attempts, pr_number, pr_node_id, head_sha, last_reason, summary,
       created_at, updated_at
FROM tasks;

DROP TABLE tasks;
ALTER TABLE tasks_v4 RENAME TO tasks;
CREATE INDEX tasks_by_state ON tasks (state);
CREATE INDEX tasks_by_pr ON tasks (pr_number);
CREATE INDEX tasks_by_head ON tasks (head_sha);

-- What one lens or gate concluded about one head commit of a task. A new push gives a
-- new head, so old verdicts simply stop applying; re-verifying a head replaces its rows.
CREATE TABLE verdicts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id           INTEGER NOT NULL REFERENCES tasks (id),
    head_sha          TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('lens', 'gate', 'check')),
    name              TEXT NOT NULL,             -- lens, gate or required check
    outcome           TEXT NOT NULL,             -- upheld/refuted, passed/warned/failed/needs_human
    summary           TEXT NOT NULL,
    detail            TEXT NOT NULL,             -- JSON: the Verdict or GateResult
    output            TEXT,                      -- the reviewer's transcript tail or command output
    review_id         INTEGER,                   -- the PR review posted for this lens and head
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (task_id, head_sha, kind, name)
);

-- One merge at a time per repository, across processes: a row is a held lock until
-- it expires.
CREATE TABLE merge_locks (
    repo              TEXT PRIMARY KEY,
    holder            TEXT NOT NULL,
    expires_at        INTEGER NOT NULL
);
