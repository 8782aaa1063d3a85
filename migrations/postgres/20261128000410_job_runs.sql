-- Every time a worker ran a job: who, from when, its last heartbeat and when its handler
-- returned (NULL when the process died first). Two runs of one job whose spans cross
-- would be the same job running twice at once; tests check none do.
CREATE TABLE job_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    owner       TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    alive_at    BIGINT NOT NULL,
    ended_at    BIGINT
);

CREATE INDEX job_runs_by_job ON job_runs (job_id, started_at);
