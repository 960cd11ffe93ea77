// Command jan-standin stands in for the third-party images of jan's stack
// (vLLM, Keycloak, Kong) where no container
// registry can be reached: tests build it into FROM scratch images
// (internal/stack/stacktest) and run assets/compose.yaml's services from
// them with the file's own commands, environment and healthchecks.
//
// It is one static binary with several personalities, chosen by the name
// it runs as (busybox style), so one build serves every image and the
// programs a healthcheck execs (python3, bash) are the same binary:
//
//	vllm             fakeengine behind vLLM's flags, API key and /health
//	python3          the vLLM healthcheck: python3 -c "…urlopen('URL', timeout=N)"
//	keycloak         the Keycloak double (internal/auth/keycloaktest) + :9000 health
//	bash             the Keycloak healthcheck: bash -c "exec 3<>/dev/tcp/… && printf … >&3 && grep -q … <&3"
//	kong             a DB-less gateway for the parts of Kong that assets/kong.yml uses; `kong health`
//
// `jan-standin <personality> args…` runs one by name, for local runs. The
// OpenTelemetry collector is the real one, built from its Go modules
// (tools/otelcol).
//
// A stand-in implements what jan's stack uses of the real program and
// refuses the rest loudly (an unknown Kong plugin, a shell script that is not
// the healthcheck), so a change to the stack that a stand-in cannot honour
// fails a test instead of passing against behaviour the real image lacks.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// version is the stand-in's own version, shown by --version personalities
// next to the version of the program it stands in for.
const version = "jan-standin"

// proc is what a personality may touch of its process; tests fill it in.
type proc struct {
	args   []string // after the program name
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// personality runs one stand-in and returns the exit status.
type personality func(ctx context.Context, p proc) int

func personalities() map[string]personality {
	return map[string]personality{
		"vllm":     runVLLM,
		"python3":  runPython,
		"keycloak": runKeycloak,
		"bash":     runBash,
		"kong":     runKong,
	}
}

func main() {
	// A server is PID 1 in its container, where SIGTERM has no default
	// action: without this, docker stop waits its full grace period.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, argv []string, getenv func(string) string, stdout, stderr io.Writer) int {
	all := personalities()
	name := ""
	if len(argv) > 0 {
		name = filepath.Base(argv[0])
		argv = argv[1:]
	}
	if _, ok := all[name]; !ok && len(argv) > 0 {
		if _, ok := all[argv[0]]; ok {
			name, argv = argv[0], argv[1:]
		}
	}
	run, ok := all[name]
	if !ok {
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(stderr, "jan-standin: no personality %q\nusage: run as (or link to) one of %s, or: jan-standin <personality> [args…]\n",
			name, strings.Join(names, ", "))
		return 2
	}
	return run(ctx, proc{args: argv, getenv: getenv, stdout: stdout, stderr: stderr})
}
