-- Where missed-event recovery stopped reading GitHub's webhook delivery attempts: the
-- newest attempt id it has read. A restart reads only newer attempts instead of every
-- attempt GitHub still lists. One row.
CREATE TABLE recovery_cursor (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    newest_attempt INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL                -- Unix milliseconds
);
