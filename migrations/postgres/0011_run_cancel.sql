-- Cancel anywhere: a replica that does not run a run records the request
-- here and notifies the others (NOTIFY jan_cancel); the owner stops it.
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX runs_cancel_requested ON runs (owner) WHERE status = 'in_progress' AND cancel_requested;
