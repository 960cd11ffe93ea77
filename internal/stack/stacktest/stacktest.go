// Package stacktest gives tests a Docker engine and the images of jan's
// stack without a container registry.
//
// Docker returns a client for the engine jan itself would find
// (stack.DiscoverEngine). Images builds the stand-in images (cmd/jan-standin
// in FROM scratch images: Kong, Keycloak, the OpenTelemetry collector,
// vLLM) once per test binary through the Engine API, and names the Postgres
// test image that scripts/test-images/postgres.sh builds; StandIns.Env is
// the JAN_IMAGE_* overrides that make compose.yaml run them:
//
//	cli := stacktest.Docker(t)
//	imgs := stacktest.Images(t, cli)
//	p, err := stack.Load(ctx, stack.ProfileCPU, merge(secrets, imgs.Env()))
//
// When there is no engine (or no Postgres image), tests skip with the
// reason, or fail when CI=true or JAN_TEST_REQUIRE contains "docker", so
// CI never passes by skipping.
//
// Image tags are the stand-in binary's digest, so concurrent test binaries
// build identical images under one name and an unchanged binary is never
// rebuilt. Old tags stay behind; the label org.jan.test-image=standin finds
// them (docker image rm $(docker images -q -f label=org.jan.test-image=standin)).
package stacktest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/stack"
)

// required reports whether a missing engine (or test image) must fail.
func required() bool {
	return os.Getenv("CI") == "true" || strings.Contains(os.Getenv("JAN_TEST_REQUIRE"), "docker")
}

// unavailable skips t, or fails it where Docker is required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if required() {
		t.Fatalf("stacktest: Docker is required here (CI=true or JAN_TEST_REQUIRE=docker) but "+format, args...)
	}
	t.Skipf("stacktest: skipping: "+format, args...)
}

// Docker returns a client for the Docker engine, found as jan finds it,
// after a ping; it is closed when t ends. Without an engine t skips (or
// fails, see the package doc).
func Docker(t testing.TB) *client.Client {
	t.Helper()
	ep, err := stack.DiscoverEngine(stack.EngineHost{})
	if err != nil {
		unavailable(t, "%v", err)
	}
	cli, err := stack.NewEngineClient(ep)
	if err != nil {
		unavailable(t, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stack.Ping(ctx, cli, ep); err != nil {
		cli.Close()
		unavailable(t, "%v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
