-- Each process that runs agents announces how many it runs at once (its --max-agents)
-- and keeps announcing while it lives; the scheduler's cap on working tasks is the sum
-- over the processes heard from lately, so --max-agents is per process and adding a
-- worker process adds its agents to the fleet.
CREATE TABLE agent_capacity (
    process     TEXT PRIMARY KEY,
    slots       BIGINT NOT NULL CHECK (slots > 0),
    seen_at     BIGINT NOT NULL                -- Unix milliseconds
);
