-- Projects (jan-server's): named groups of a user's conversations whose
-- instruction reaches the model as a system message in each of them.
-- Names are unique per user. Deleting a project leaves its conversations,
-- out of any project.
CREATE TABLE projects (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    instruction TEXT NOT NULL DEFAULT '',
    is_favorite BOOLEAN NOT NULL DEFAULT FALSE,
    archived_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX projects_user_name ON projects (user_id, name);
CREATE INDEX projects_user_seq ON projects (user_id, seq);

-- A conversation's project; '' for none. Existing conversations have none.
ALTER TABLE conversations ADD COLUMN project_id TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_user_project_seq ON conversations (user_id, project_id, seq);
