-- Work an attempt pushed whose pull request is not recorded yet (the call to GitHub
-- after the push failed, or the process died): the head, title, body and summary to
-- propose, as JSON. A retry resumes at the pull request instead of running the agent
-- again on its own pushed work (which would see no change). Cleared once proposed.
ALTER TABLE tasks ADD COLUMN pending_proposal TEXT;

-- Times a job went back to the queue after a transient GitHub error (5xx, rate limit,
-- no answer) without spending an attempt; bounded, so a fault that never clears still
-- ends in a dead job.
ALTER TABLE jobs ADD COLUMN postponements BIGINT NOT NULL DEFAULT 0;
