-- jan's initial schema, SQLite dialect.
--
-- Conventions (kept identical in postgres/0001_init.sql):
--   * Times are INTEGER microseconds since the Unix epoch, UTC
--     (datetime(created_at / 1000000, 'unixepoch') to read them by hand).
--   * JSON values (metadata, usage, error, capabilities) are TEXT.
--   * seq (the rowid) orders lists in exact creation order: each insert gets
--     max(seq)+1. Not AUTOINCREMENT: that only adds "never reuse the seq of a
--     deleted last row", which pagination does not need (a deleted row is no
--     longer a valid cursor), and costs ~20% of append throughput.
--   * Ids are opaque text.
--   * Owners (user_id) are not foreign keys: in Keycloak mode users live in
--     Keycloak, not in this database.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT,
    email         TEXT,
    password_hash TEXT NOT NULL DEFAULT '',
    is_guest      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
-- Usernames and emails are unique ignoring (ASCII) case; NULL for guests.
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE conversations (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    metadata   TEXT NOT NULL DEFAULT '{}',
    model      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX conversations_user_seq ON conversations (user_id, seq);

CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    model           TEXT NOT NULL DEFAULT '',
    run_id          TEXT NOT NULL DEFAULT '',
    usage           TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX messages_conversation_seq ON messages (conversation_id, seq);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    model           TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    message_id      TEXT NOT NULL DEFAULT '',
    usage           TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    completed_at    INTEGER
);
CREATE INDEX runs_conversation ON runs (conversation_id);

CREATE TABLE models (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL DEFAULT '',
    served_name  TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    capabilities TEXT NOT NULL DEFAULT '[]',
    created      INTEGER NOT NULL
);

CREATE TABLE idempotency (
    principal_id TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    key          TEXT NOT NULL,
    body_hash    TEXT NOT NULL DEFAULT '',
    done         INTEGER NOT NULL DEFAULT 0,
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT NOT NULL DEFAULT '',
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal_id, method, path, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
