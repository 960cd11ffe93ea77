-- A session is one sign-in (a guest's creation or a password login) and the
-- refresh tokens rotated from it. Access tokens carry its id (sid), so ending
-- it (logout, an upgrade, a refresh token used twice) refuses them at once.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- When a user last signed in or refreshed: guests inactive for long are
-- purged with their data. NULL: not since created_at.
ALTER TABLE users ADD COLUMN last_active_at TIMESTAMPTZ;
CREATE INDEX users_guests_active ON users (last_active_at) WHERE is_guest;
