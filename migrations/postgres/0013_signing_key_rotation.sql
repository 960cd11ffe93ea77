-- Signing keys rotate: the active key is retired (retired_at) when a new
-- one takes its place, and still verifies until the tokens it signed have
-- expired; then it is deleted.
ALTER TABLE signing_keys ADD COLUMN retired_at TIMESTAMPTZ;
