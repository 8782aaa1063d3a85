-- One budget of GitHub writes per installation, shared by every Flotilla process on
-- this database: a token bucket (tokens left at refilled_at, refilled with time up to
-- its capacity) and a pause that holds every write until paused_until after GitHub
-- answered with a secondary rate limit. Times are Unix milliseconds.
CREATE TABLE github_write_budget (
    installation INTEGER PRIMARY KEY,
    tokens       REAL NOT NULL,
    refilled_at  INTEGER NOT NULL,
    paused_until INTEGER NOT NULL DEFAULT 0
);
