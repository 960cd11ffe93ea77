// Package stack owns jan's local Docker stack: loading the embedded
// assets/compose.yaml for a profile (gpu or cpu) with compose-go, ordering
// its services by dependency, converting the supported Compose subset into
// plain container specs (labels, config hash) that map onto Engine API
// configs, rendering kong.yml, the stack's generated secrets file in the
// data dir, hardware detection that picks the profile and says why, and
// finding the Docker engine (DOCKER_HOST, the current docker context,
// rootless, Docker Desktop, Colima and Podman sockets) with a moby client
// for it.
//
// Planned here next (issue 4): preflight, pulls, create/start in order
// with health waits, CopyToContainer of config files, rollback, idempotent
// re-runs by config hash, and the probe container for GPU detection.
//
// It must not: read the process environment or .env itself (callers pass an
// env map, so tests and flags decide), print (it returns values and errors
// for cmd/jan to show), or put secrets into errors, logs or config-hash
// inputs other than as digests.
package stack
