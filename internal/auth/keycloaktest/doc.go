// Package keycloaktest is a Keycloak test double: enough of Keycloak's
// OpenID Connect endpoints and Admin REST API, built from Keycloak's
// documented request and response shapes, to run jan's real Keycloak client
// (package keycloak) against it in tests, or to serve it from a small binary
// in place of Keycloak.
//
// The realm comes from assets/realm-jan.json (or Options.RealmJSON), so the
// double's roles, clients, service-account roles, protocol mappers, user
// profile and token settings are the ones jan ships: a realm file that
// breaks jan's flows breaks them here too.
//
// What it implements, per realm:
//
//   - GET  /realms/{realm}/.well-known/openid-configuration
//   - GET  /realms/{realm}/protocol/openid-connect/certs (RS256 JWKS)
//   - POST /realms/{realm}/protocol/openid-connect/token: client_credentials,
//     password, refresh_token (rotating: a used or logged-out refresh token is
//     invalid_grant) and urn:ietf:params:oauth:grant-type:token-exchange with
//     requested_subject (Keycloak's legacy impersonation)
//   - POST /realms/{realm}/protocol/openid-connect/logout
//   - the Admin API under /admin/realms/{realm}: users (create, get, query,
//     update, delete), users/{id}/reset-password, users/{id}/logout,
//     roles/{name}, users/{id}/role-mappings/realm (get, add, remove); the
//     bearer must be a service-account token whose realm-management roles
//     allow the call, else 401/403 as Keycloak answers.
//
// Hooks inject failures (Options.Fail, FailNext) and inspect state (Users,
// JWKSFetches, TokenCalls). It is not a security boundary: passwords are
// kept hashed but nothing else is hardened.
package keycloaktest
