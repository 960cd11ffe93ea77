package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
)

// Endpoint is the Docker Engine API jan talks to and how it was found
// (shown by jan doctor and in "engine unreachable" errors).
type Endpoint struct {
	Host   string // unix:///…, tcp://…, ssh://…, npipe://…
	Source string // "DOCKER_HOST", "docker context colima", "rootless Docker", …
	TLS    bool   // DOCKER_HOST with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH
	// TLSDir holds a docker context's ca.pem, cert.pem and key.pem
	// (contexts/tls/<hash>/docker), when it has any.
	TLSDir string
}

// EngineHost is what endpoint discovery may look at; the zero value is the
// real machine. Tests fill it in, so discovery never touches the host.
type EngineHost struct {
	Getenv   func(string) string
	Exists   func(path string) bool // a socket (or any file) at path
	ReadFile func(path string) ([]byte, error)
	Home     string
	UID      int
	GOOS     string
}

func (h EngineHost) withDefaults() EngineHost {
	if h.Getenv == nil {
		h.Getenv = os.Getenv
	}
	if h.Exists == nil {
		h.Exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	if h.ReadFile == nil {
		h.ReadFile = os.ReadFile
	}
	if h.Home == "" {
		h.Home, _ = os.UserHomeDir()
	}
	if h.GOOS == "" { // the real machine: its uid too (tests set both)
		h.UID = os.Getuid()
	}
	if h.GOOS == "" {
		h.GOOS = runtime.GOOS
	}
	return h
}

// ErrNoEngine is wrapped by DiscoverEngine when nothing was found.
var ErrNoEngine = errors.New("no Docker engine found")

// DiscoverEngine finds the engine the way the docker CLI would, then the
// sockets of the usual alternatives: DOCKER_HOST; DOCKER_CONTEXT or the
// current context of ~/.docker/config.json (DOCKER_CONFIG); the default
// /var/run/docker.sock; rootless Docker; Docker Desktop's per-user socket;
// Colima; Podman's Docker-compatible socket.
func DiscoverEngine(h EngineHost) (Endpoint, error) {
	h = h.withDefaults()
	if host := h.Getenv("DOCKER_HOST"); host != "" {
		tls := h.Getenv("DOCKER_TLS_VERIFY") != "" || h.Getenv("DOCKER_CERT_PATH") != ""
		return Endpoint{Host: host, Source: "DOCKER_HOST", TLS: tls}, nil
	}
	ep, ok, err := contextEndpoint(h)
	if err != nil {
		return Endpoint{}, err
	}
	if ok {
		return ep, nil
	}
	if h.GOOS == "windows" {
		return Endpoint{Host: "npipe:////./pipe/docker_engine", Source: "default"}, nil
	}
	tried := make([]string, 0, 10)
	for _, c := range socketCandidates(h) {
		tried = append(tried, c.path)
		if h.Exists(c.path) {
			return Endpoint{Host: "unix://" + c.path, Source: c.source}, nil
		}
	}
	return Endpoint{}, fmt.Errorf("stack: %w (tried %s): start Docker, or set DOCKER_HOST; or run jan up --embedded",
		ErrNoEngine, strings.Join(tried, ", "))
}

type socketCandidate struct{ path, source string }

func socketCandidates(h EngineHost) []socketCandidate {
	var c []socketCandidate
	add := func(path, source string) {
		if path != "" {
			c = append(c, socketCandidate{path, source})
		}
	}
	add("/var/run/docker.sock", "default socket")
	runDir := h.Getenv("XDG_RUNTIME_DIR")
	if runDir == "" && h.GOOS == "linux" {
		runDir = "/run/user/" + strconv.Itoa(h.UID)
	}
	if runDir != "" {
		add(filepath.Join(runDir, "docker.sock"), "rootless Docker")
	}
	if h.Home != "" {
		add(filepath.Join(h.Home, ".docker", "run", "docker.sock"), "Docker Desktop")
		add(filepath.Join(h.Home, ".docker", "desktop", "docker.sock"), "Docker Desktop")
		add(filepath.Join(h.Home, ".colima", "default", "docker.sock"), "Colima")
		add(filepath.Join(h.Home, ".colima", "docker.sock"), "Colima")
		add(filepath.Join(h.Home, ".rd", "docker.sock"), "Rancher Desktop")
	}
	if runDir != "" {
		add(filepath.Join(runDir, "podman", "podman.sock"), "Podman")
	}
	add("/run/podman/podman.sock", "Podman")
	if h.Home != "" {
		add(filepath.Join(h.Home, ".local", "share", "containers", "podman", "machine", "podman.sock"), "Podman machine")
	}
	return c
}

// contextEndpoint reads the docker CLI's current context: DOCKER_CONTEXT,
// else currentContext in $DOCKER_CONFIG/config.json (~/.docker). "default"
// (or none) means no context endpoint.
func contextEndpoint(h EngineHost) (Endpoint, bool, error) {
	dir := h.Getenv("DOCKER_CONFIG")
	if dir == "" {
		if h.Home == "" {
			return Endpoint{}, false, nil
		}
		dir = filepath.Join(h.Home, ".docker")
	}
	name := h.Getenv("DOCKER_CONTEXT")
	if name == "" {
		data, err := h.ReadFile(filepath.Join(dir, "config.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return Endpoint{}, false, nil
		}
		if err != nil {
			return Endpoint{}, false, fmt.Errorf("stack: docker config: %w", err)
		}
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return Endpoint{}, false, fmt.Errorf("stack: %s: %w", filepath.Join(dir, "config.json"), err)
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return Endpoint{}, false, nil
	}
	// The CLI stores a context's metadata under the SHA-256 of its name.
	sum := sha256.Sum256([]byte(name))
	metaPath := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	data, err := h.ReadFile(metaPath)
	if err != nil {
		return Endpoint{}, false, fmt.Errorf("stack: docker context %q: %w (fix: docker context use default)", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return Endpoint{}, false, fmt.Errorf("stack: docker context %q: %s: %w", name, metaPath, err)
	}
	host := meta.Endpoints["docker"].Host
	if host == "" {
		return Endpoint{}, false, fmt.Errorf("stack: docker context %q has no docker endpoint (fix: docker context use default)", name)
	}
	ep := Endpoint{Host: host, Source: "docker context " + name}
	tlsDir := filepath.Join(dir, "contexts", "tls", hex.EncodeToString(sum[:]), "docker")
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if h.Exists(filepath.Join(tlsDir, f)) {
			ep.TLSDir = tlsDir
		}
	}
	return ep, true, nil
}

// NewEngineClient returns a moby client for ep. The API version is
// negotiated with the engine on the first request (moby's default); TLS
// settings come from DOCKER_CERT_PATH/DOCKER_TLS_VERIFY when ep came from
// DOCKER_HOST, or from the context's TLS directory. An ssh:// host is
// reached as the docker CLI does: `ssh HOST docker system dial-stdio`. It
// does not contact the engine: call Ping for that.
func NewEngineClient(ep Endpoint) (*client.Client, error) {
	opts := []client.Opt{client.WithHost(ep.Host)}
	if strings.HasPrefix(ep.Host, "ssh://") {
		dial, err := sshDialer(ep.Host)
		if err != nil {
			return nil, fmt.Errorf("stack: Docker engine at %s (%s): %w", ep.Host, ep.Source, err)
		}
		opts = []client.Opt{client.WithHost("http://docker.example.com"), client.WithDialContext(dial)}
	}
	if ep.TLS {
		opts = append(opts, client.WithTLSClientConfigFromEnv())
	}
	if ep.TLSDir != "" {
		file := func(name string) string {
			p := filepath.Join(ep.TLSDir, name)
			if _, err := os.Stat(p); err != nil {
				return ""
			}
			return p
		}
		opts = append(opts, client.WithTLSClientConfig(file("ca.pem"), file("cert.pem"), file("key.pem")))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("stack: Docker engine at %s (%s): %w", ep.Host, ep.Source, err)
	}
	return c, nil
}

// Ping checks that the engine answers, in one line a person can act on.
func Ping(ctx context.Context, c *client.Client, ep Endpoint) error {
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		cause := err.Error()
		var op *net.OpError
		if errors.As(err, &op) {
			cause = op.Error()
		}
		return fmt.Errorf("the Docker engine at %s (%s) is not reachable: %s — start Docker, or run jan up --embedded", ep.Host, ep.Source, cause)
	}
	return nil
}
