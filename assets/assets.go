// Package assets holds files jan ships inside its binary.
package assets

import _ "embed"

// RealmJSON is the Keycloak realm "jan" that `jan up` imports: roles guest,
// user and admin, the confidential "backend" client (service account, token
// exchange) and the public "llm-api" client with jan's token mappers. The
// backend client's secret is the placeholder ${BACKEND_CLIENT_SECRET}:
// Keycloak's --import-realm resolves it from its environment, and
// keycloak.RenderRealm resolves it in Go; the file itself holds no secret.
//
//go:embed realm-jan.json
var RealmJSON []byte

// ComposeYAML is jan's stack in Compose form (profiles gpu and cpu), loaded
// by internal/stack with compose-go.
//
//go:embed compose.yaml
var ComposeYAML []byte

// KongTemplate is Kong's declarative configuration as a Go text/template;
// internal/stack renders it with the gateway secret and the upstream URL.
//
//go:embed kong.yml
var KongTemplate string

// OtelCollectorYAML is the OpenTelemetry collector's configuration.
//
//go:embed otel-collector.yaml
var OtelCollectorYAML []byte
