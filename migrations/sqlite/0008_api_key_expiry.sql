-- API keys may expire: NULL never does.
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
