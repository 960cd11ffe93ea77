-- Cancel anywhere, for background responses too (see 0011 for runs).
ALTER TABLE responses ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE INDEX responses_cancel_requested ON responses (owner) WHERE status IN ('queued', 'in_progress') AND cancel_requested = 1;
