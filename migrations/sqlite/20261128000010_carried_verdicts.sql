-- Verdicts carried over a base-only update: each verdict records the change it is
-- about (the patch-id of merge-base(base, head)..head, whitespace kept), and a lens
-- verdict carried onto a head that only merged a new base into an unchanged change
-- names the head the lens was run on. A carried verdict is never a gate's or a check's.
ALTER TABLE verdicts ADD COLUMN patch_id TEXT;
ALTER TABLE verdicts ADD COLUMN carried_from TEXT
    CHECK (carried_from IS NULL OR kind = 'lens');
