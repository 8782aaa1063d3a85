-- What agents spent: one row per agent run (a worker attempt, a planner, a reviewer
-- lens), with the tokens its CLI reported and their cost; and the budget state of runs.
CREATE TABLE agent_usage (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    task_id            INTEGER REFERENCES tasks (id),    -- none for a planner
    installation       INTEGER NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('worker', 'planner', 'reviewer')),
    lens               TEXT,                             -- a reviewer's lens
    attempt            INTEGER,                          -- a worker's attempt number
    head_sha           TEXT,                             -- the head a reviewer judged
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_micros        INTEGER NOT NULL,                 -- USD millionths
    priced             INTEGER NOT NULL,                 -- 0: a model had no price
    usage              TEXT NOT NULL,                    -- JSON: tokens per model, reported cost
    outcome            TEXT NOT NULL,                    -- how the agent run ended
    created_at         INTEGER NOT NULL
);

CREATE INDEX agent_usage_by_run ON agent_usage (run_id);
CREATE INDEX agent_usage_by_task ON agent_usage (task_id);
CREATE INDEX agent_usage_by_installation ON agent_usage (installation, created_at);

-- A budget raised by `/flotilla retry` (JSON; none: the run's configuration), and why
-- the run stopped starting agents, once a budget was spent.
ALTER TABLE runs ADD COLUMN budget TEXT;
ALTER TABLE runs ADD COLUMN budget_stopped TEXT;
