-- Responses (the OpenAI Responses API), owned by a principal like
-- conversations. params keeps what the request set to show it back;
-- usage, error and incomplete_reason the outcome. owner, heartbeat_at and
-- partial (the output so far, as a JSON array of items) let a response
-- outlive a crash, as runs do.
CREATE TABLE responses (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    model                TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    previous_response_id TEXT NOT NULL DEFAULT '',
    conversation_id      TEXT NOT NULL DEFAULT '',
    params               JSONB NOT NULL DEFAULT '{}',
    usage                JSONB,
    error                JSONB,
    incomplete_reason    TEXT NOT NULL DEFAULT '',
    owner                TEXT NOT NULL DEFAULT '',
    heartbeat_at         TIMESTAMPTZ,
    partial              TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL,
    completed_at         TIMESTAMPTZ
);
CREATE INDEX responses_user ON responses (user_id, seq);
CREATE INDEX responses_running ON responses (heartbeat_at) WHERE status IN ('queued', 'in_progress');

-- A response's input and output items, in order; data is the item's JSON.
CREATE TABLE response_items (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    input       BOOLEAN NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX response_items_response ON response_items (response_id, input, seq);

-- The events of a background response, so its stream can be resumed after
-- any sequence number.
CREATE TABLE response_events (
    response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (response_id, seq)
);
