-- Landing behind a strict base, one task at a time: the task Flotilla is bringing up
-- to date to land holds the run's train ('updating'); another task of the run that
-- finds its base behind meanwhile waits ('waiting') and is woken once the holder has
-- merged or left review, instead of being brought up to date again after every merge.
ALTER TABLE tasks ADD COLUMN landing TEXT
    CHECK (landing IS NULL OR landing IN ('updating', 'waiting'));
