-- Runs outlive a crash of the process running them. owner names that
-- process (host and listen address), heartbeat_at is when it last said the
-- run was alive, partial is the answer so far, checkpointed while the run
-- streams. At start-up, and periodically, runs in progress whose owner is
-- the starting process or whose heartbeat is stale end incomplete with
-- their partial answer.
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
ALTER TABLE runs ADD COLUMN partial TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_in_progress ON runs (heartbeat_at) WHERE status = 'in_progress';
