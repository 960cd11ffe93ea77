-- Cancel anywhere: a replica that does not run a run records the request
-- here (and, on Postgres, notifies the others); the owner stops it.
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_cancel_requested ON runs (owner) WHERE status = 'in_progress' AND cancel_requested = 1;
