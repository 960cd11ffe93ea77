// Package client is a typed Go client for jan's own HTTP API: /auth (guest,
// refresh, me, login, upgrade) and /v1 (models, conversations, messages,
// runs, chat completions). The TUI, the CLI commands and tests share it.
//
// What it owns: the error envelope as a Go error (*Error), retries of
// requests that are safe to repeat (GETs, and POSTs it sends with an
// Idempotency-Key), token refresh on 401 (the refresh token, else a new
// guest token with a notice), SSE streams as an iterator of typed events,
// and the user's saved credentials (~/.config/jan/config.json, mode 0600).
//
// What it must not do: import the server, the store or anything that runs
// jan; it talks HTTP only, so it works the same against an in-process or a
// remote server. It never prints: what a user should hear goes through
// Options.Notice.
package client
