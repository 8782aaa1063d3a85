-- One budget of GitHub writes per installation, shared by every Flotilla process on
-- this database: a token bucket (tokens left at refilled_at, refilled with time up to
-- its capacity) and a pause that holds every write until paused_until after GitHub
-- answered with a secondary rate limit. Times are Unix milliseconds.
CREATE TABLE github_write_budget (
    installation BIGINT PRIMARY KEY,
    tokens       DOUBLE PRECISION NOT NULL,
    refilled_at  BIGINT NOT NULL,
    paused_until BIGINT NOT NULL DEFAULT 0
);
