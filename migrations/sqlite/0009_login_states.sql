-- Browser sign-ins in progress (authorization code with PKCE): the state's
-- SHA-256, the PKCE verifier and where to send the browser after. Single
-- use; at most ten minutes old (expired rows go when new ones come).
CREATE TABLE login_states (
    state_hash   TEXT PRIMARY KEY,
    verifier     TEXT NOT NULL,
    redirect_url TEXT NOT NULL,
    query_mode   INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX login_states_expiry ON login_states (expires_at);
