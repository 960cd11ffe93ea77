// Package keycloak is jan's identity provider in Keycloak mode: an
// auth.IdentityProvider over a Keycloak realm set up from
// assets/realm-jan.json.
//
// It owns the calls jan makes to Keycloak — the token endpoint
// (client_credentials for the backend client's service account, password,
// refresh_token, token exchange), the logout endpoint, and the few Admin REST
// API calls that create, upgrade and clean up guests — and the mapping of
// their failures to *auth.Problem: 503 identity_unavailable when Keycloak
// does not answer, 502 identity_error when it answers wrongly. Messages never
// carry tokens or secrets.
//
// Tokens are verified by the shared go-oidc verifier of package auth, with
// the realm's JWKS fetched at most once per 30 s (jwks.go).
//
// It must not know about HTTP routes or the error envelope (the server maps
// *auth.Problem and *auth.Error), nor log: errors carry the detail.
package keycloak
