-- jan's initial schema, Postgres dialect.
--
-- Conventions (kept identical in sqlite/0001_init.sql):
--   * Times are TIMESTAMPTZ (microsecond precision).
--   * JSON values (metadata, usage, error, capabilities) are JSONB.
--   * seq orders lists in exact creation order (an identity column, never
--     reused). Ids are opaque text.
--   * Owners (user_id) are not foreign keys: in Keycloak mode users live in
--     Keycloak, not in this database.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT,
    email         TEXT,
    password_hash TEXT NOT NULL DEFAULT '',
    is_guest      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);
-- Usernames and emails are unique ignoring case; NULL for guests.
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE conversations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    metadata   JSONB NOT NULL DEFAULT '{}',
    model      TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_user_seq ON conversations (user_id, seq);

CREATE TABLE messages (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY,
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    model           TEXT NOT NULL DEFAULT '',
    run_id          TEXT NOT NULL DEFAULT '',
    usage           JSONB,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_conversation_seq ON messages (conversation_id, seq);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    model           TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    message_id      TEXT NOT NULL DEFAULT '',
    usage           JSONB,
    error           JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ
);
CREATE INDEX runs_conversation ON runs (conversation_id);

CREATE TABLE models (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL DEFAULT '',
    served_name  TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    capabilities JSONB NOT NULL DEFAULT '[]',
    created      TIMESTAMPTZ NOT NULL
);

CREATE TABLE idempotency (
    principal_id TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    key          TEXT NOT NULL,
    body_hash    TEXT NOT NULL DEFAULT '',
    done         BOOLEAN NOT NULL DEFAULT FALSE,
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT NOT NULL DEFAULT '',
    body         BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (principal_id, method, path, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
