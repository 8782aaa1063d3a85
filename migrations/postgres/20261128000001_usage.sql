-- What agents spent: one row per agent run (a worker attempt, a planner, a reviewer
-- lens), with the tokens its CLI reported and their cost; and the budget state of runs.
CREATE TABLE agent_usage (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             BIGINT NOT NULL REFERENCES runs (id),
    task_id            BIGINT REFERENCES tasks (id),    -- none for a planner
    installation       BIGINT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('worker', 'planner', 'reviewer')),
    lens               TEXT,                             -- a reviewer's lens
    attempt            BIGINT,                           -- a worker's attempt number
    head_sha           TEXT,                             -- the head a reviewer judged
    input_tokens       BIGINT NOT NULL,
    output_tokens      BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cost_micros        BIGINT NOT NULL,                 -- USD millionths
    priced             BOOLEAN NOT NULL,                 -- false: a model had no price
    usage              TEXT NOT NULL,                    -- JSON: tokens per model, reported cost
    outcome            TEXT NOT NULL,                    -- how the agent run ended
    created_at         BIGINT NOT NULL
);

CREATE INDEX agent_usage_by_run ON agent_usage (run_id);
CREATE INDEX agent_usage_by_task ON agent_usage (task_id);
CREATE INDEX agent_usage_by_installation ON agent_usage (installation, created_at);

-- A budget raised by `/flotilla retry` (JSON; none: the run's configuration), and why
-- the run stopped starting agents, once a budget was spent.
ALTER TABLE runs ADD COLUMN budget TEXT;
ALTER TABLE runs ADD COLUMN budget_stopped TEXT;
