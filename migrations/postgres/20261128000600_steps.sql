-- The dashboard's record of what ran and when: one row per planner run, worker
-- attempt, build gate and reviewer lens, with its start and end, how it ended, and
-- (redacted, capped) the prompt the agent got and its transcript. The timeline picture
-- and the attempt pages read it; landing is drawn from the tasks' own record.
CREATE TABLE steps (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    task_id     BIGINT REFERENCES tasks (id),        -- none for the planner
    kind        TEXT NOT NULL CHECK (kind IN ('plan', 'work', 'build', 'review')),
    lens        TEXT,                                -- a reviewer's lens
    attempt     BIGINT,                                -- a worker's attempt number
    head_sha    TEXT,                                -- the head a build or reviewer judged
    started_at  BIGINT NOT NULL,                       -- Unix milliseconds
    finished_at BIGINT,
    outcome     TEXT CHECK (outcome IS NULL OR outcome IN ('succeeded', 'failed', 'interrupted')),
    reason      TEXT,                                -- how it ended, in words
    prompt      TEXT,
    transcript  TEXT
);

CREATE INDEX steps_by_run ON steps (run_id, started_at);
CREATE INDEX steps_by_task ON steps (task_id);
