-- An issue under Flotilla's care: one run per label (or replan), its snapshot and plan.
CREATE TABLE runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    repo              TEXT NOT NULL,
    issue             INTEGER NOT NULL,
    installation      INTEGER NOT NULL,
    clone_url         TEXT NOT NULL,
    default_branch    TEXT NOT NULL,
    title             TEXT NOT NULL,             -- sanitized snapshot at label time
    body              TEXT NOT NULL,             -- sanitized snapshot at label time
    force_single      INTEGER NOT NULL DEFAULT 0,
    config            TEXT NOT NULL,             -- the .github/flotilla.yml text used (may be empty)
    requested_by      TEXT NOT NULL,
    max_parallel      INTEGER NOT NULL CHECK (max_parallel > 0),
    state             TEXT NOT NULL DEFAULT 'planning'
                      CHECK (state IN ('planning', 'active', 'settled', 'cancelled')),
    base_sha          TEXT,
    plan_source       TEXT,
    plan_decisions    TEXT,                      -- JSON array of lines
    plan_comment_id   INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

-- At most one live run per issue: a second label event cannot start a second run.
CREATE UNIQUE INDEX runs_one_live_per_issue ON runs (repo, issue)
    WHERE state IN ('planning', 'active');

-- One unit of work: a worktree, a branch, an agent, a draft pull request.
CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER NOT NULL REFERENCES runs (id),
    position          INTEGER NOT NULL,          -- 1-based, as shown in the plan
    title             TEXT NOT NULL,
    instructions      TEXT NOT NULL,
    paths             TEXT NOT NULL,             -- JSON array of globs
    depends_on        TEXT NOT NULL,             -- JSON array of positions
    branch            TEXT NOT NULL,
    state             TEXT NOT NULL
                      CHECK (state IN ('planned', 'queued', 'working', 'proposed',
                                       'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    pr_number         INTEGER,
    pr_node_id        TEXT,
    head_sha          TEXT,
    last_reason       TEXT,
    summary           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (run_id, position)
);

CREATE INDEX tasks_by_state ON tasks (state);
CREATE INDEX tasks_by_pr ON tasks (pr_number);
