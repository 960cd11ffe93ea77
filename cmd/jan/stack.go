package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/stack"
)

// The stack commands (up, down, status, logs, doctor) share: the engine
// connection, the interpolation environment with --image/--publish, and
// the state file jan up leaves in the data dir.

// stackOptions are the flags that shape the stack.
type stackOptions struct {
	gpu     string
	images  []string // service=ref
	publish []string // name=port
}

func (o *stackOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.gpu, "gpu", "auto", "inference profile: `auto` (detect an NVIDIA GPU), nvidia (insist), none (CPU profile)")
	fs.StringArrayVar(&o.images, "image", nil, "use another image for a service, `SERVICE=REF` (repeatable; JAN_IMAGE_<SERVICE>)")
	fs.StringArrayVar(&o.publish, "publish", nil, "publish a service on another host port, `NAME=PORT` (repeatable; names: gateway, keycloak, api-db, keycloak-db, otel-grpc, otel-http, vllm)")
}

// env is the interpolation environment: process env over .env, then the
// flags' overrides.
func (o *stackOptions) env() (map[string]string, error) {
	env, err := config.Environ()
	if err != nil {
		return nil, err
	}
	for _, kv := range o.images {
		svc, ref, ok := strings.Cut(kv, "=")
		if !ok || svc == "" || ref == "" {
			return nil, fmt.Errorf("--image %q: want SERVICE=REF, e.g. --image kong=mirror.local/kong:3.9.1", kv)
		}
		if !knownService(svc) {
			return nil, fmt.Errorf("--image %q: no service %q (services: %s)", kv, svc, strings.Join(allServices, ", "))
		}
		env[stack.ImageEnv(svc)] = ref
	}
	for _, kv := range o.publish {
		name, port, ok := strings.Cut(kv, "=")
		ps, known := stack.PortSettingNamed(name)
		if !ok || !known {
			return nil, fmt.Errorf("--publish %q: want NAME=PORT with NAME one of gateway, keycloak, api-db, keycloak-db, otel-grpc, otel-http, vllm", kv)
		}
		if n, err := parsePort(port); err != nil || n == 0 {
			return nil, fmt.Errorf("--publish %q: %q is not a port number (1-65535)", kv, port)
		}
		env[ps.Env] = port
	}
	return env, nil
}

var allServices = []string{stack.ServiceAPIDB, stack.ServiceKeycloakDB, stack.ServiceKeycloak, stack.ServiceKong, stack.ServiceOtelCollector, stack.ServiceVLLMGPU, stack.ServiceVLLMCPU}

func knownService(s string) bool {
	for _, x := range allServices {
		if x == s {
			return true
		}
	}
	return false
}

func parsePort(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n < 0 || n > 65535 {
		return 0, fmt.Errorf("not a port")
	}
	return n, nil
}

// openStack finds and pings the Docker engine, for the project that
// JAN_PROJECT (environment or .env) names. Its errors are one line with
// the fix: every stack command shows them as they are.
func openStack(ctx context.Context) (*stack.Stack, error) {
	env, err := config.Environ()
	if err != nil {
		return nil, err
	}
	project, err := stack.ProjectFrom(env)
	if err != nil {
		return nil, err
	}
	ep, err := stack.DiscoverEngine(stack.EngineHost{})
	if err != nil {
		return nil, err
	}
	cli, err := stack.NewEngineClient(ep)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := stack.Ping(pctx, cli, ep); err != nil {
		cli.Close()
		return nil, err
	}
	st := stack.NewStack(cli, ep)
	st.Project = project
	return st, nil
}

// stackState is what jan up leaves in the data dir for status, logs and
// down: the profile and why, and the detached server, if any.
type stackState struct {
	Profile    string      `json:"profile"`
	Reason     string      `json:"reason"`
	Model      string      `json:"model,omitempty"`
	ServerAddr string      `json:"server_addr"`
	ServerPID  int         `json:"server_pid,omitempty"` // the server's process (jan up -d's child, or jan up itself)
	Foreground bool        `json:"foreground,omitempty"` // ServerPID is a jan up in a terminal
	StartedAt  time.Time   `json:"started_at"`
	URLs       [][2]string `json:"urls,omitempty"`
	// ServerConfig digests the server's stack settings (see envDigest).
	ServerConfig string `json:"server_config,omitempty"`
}

const (
	stateFile     = "stack-state.json"
	serverLogFile = "server.log"
)

func loadState(dataDir string) (stackState, bool, error) {
	var s stackState
	b, err := os.ReadFile(filepath.Join(dataDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, fmt.Errorf("%s: %w", filepath.Join(dataDir, stateFile), err)
	}
	return s, true, nil
}

func saveState(dataDir string, s stackState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, stateFile))
}

// processAlive reports whether pid runs (signal 0).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// bridgeGateway is the address containers reach the host on through
// host.docker.internal (host-gateway: the default bridge's gateway), when
// it is an address of this machine; "" otherwise (Docker Desktop routes
// host.docker.internal to the host's loopback itself).
func bridgeGateway(ctx context.Context, st *stack.Stack) string {
	ip := st.BridgeGateway(ctx)
	if ip == "" {
		return ""
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return ip
		}
	}
	return ""
}

// isTTY says whether w is a terminal (progress redraws only there).
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// dataDir resolves the data dir as every command does.
func dataDir(fs *pflag.FlagSet) (string, config.Config, error) {
	cfg, err := config.Load(fs, nil)
	if err != nil {
		return "", cfg, err
	}
	return cfg.DataDir, cfg, nil
}
