-- The embedded issuer's signing keys, shared by every replica on this
-- database (a token from one verifies on all). One is active (signs); the
-- others still verify tokens they signed. The partial unique index lets only
-- one replica create the first key when several start at once.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    pem        TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active = 1;
