-- Wake-ups without polling: every job inserted (by any process, in any transaction)
-- notifies the channel of this schema's queue at commit, with the job's kind as payload,
-- so idle workers listening in other processes claim it at once. The channel carries the
-- schema's name so Flotillas in different schemas of one database do not wake each other;
-- left(…, 63) keeps it within PostgreSQL's identifier length, as the listener does.
CREATE FUNCTION flotilla_notify_job_queued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(left('flotilla_jobs.' || TG_TABLE_SCHEMA, 63), NEW.kind);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_queued
    AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION flotilla_notify_job_queued();
