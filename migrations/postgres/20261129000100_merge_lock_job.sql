-- A merge lock belongs to the landing job that took it: once that job is no longer
-- running under a live lease (it finished, failed, or its worker died), the lock is
-- free, instead of blocking every other merge of the repository until it expires.
-- NULL on a lock taken before this column existed: such a lock lasts until it expires.
ALTER TABLE merge_locks ADD COLUMN job_id BIGINT;
