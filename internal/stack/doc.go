// Package stack owns jan's local Docker stack: loading the embedded
// assets/compose.yaml for a profile (gpu or cpu) and a project name with
// compose-go, ordering its services by dependency, converting the supported
// Compose subset into plain container specs (labels, config hash) and their
// Engine API form, rendering kong.yml, the stack's generated secrets file in
// the data dir, hardware detection that picks the profile and says why (and
// a GPU probe container), and finding the Docker engine (DOCKER_HOST, the
// current docker context with its TLS material, ssh:// hosts, rootless,
// Docker Desktop, Colima and Podman sockets).
//
// On the engine, Stack does the lifecycle: port preflight naming each
// port's owner, pulls with progress, Up (network and volumes, create or
// keep by config hash, CopyToContainer of config files, start in
// dependency order, health waits, rollback of what the run created on
// failure or cancellation), Status, Down and Logs.
//
// It must not: read the process environment or .env itself (callers pass an
// env map, so tests and flags decide), print (it reports Events and returns
// errors for cmd/jan to show), or put secrets into errors, logs or
// config-hash inputs other than as digests.
package stack
