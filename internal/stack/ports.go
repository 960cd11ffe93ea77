package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// PortSetting is one published port people can move: its --publish name,
// its variable in compose.yaml, and the service port it maps.
type PortSetting struct {
	Name          string // --publish NAME=PORT
	Env           string // JAN_<NAME>_PORT
	Service       string
	ContainerPort uint32
	Default       string
}

// PortSettings lists every port compose.yaml publishes (a test checks
// that they agree).
var PortSettings = []PortSetting{
	{"gateway", "JAN_GATEWAY_PORT", ServiceKong, 8000, "8000"},
	{"keycloak", "JAN_KEYCLOAK_PORT", ServiceKeycloak, 8085, "8085"},
	{"api-db", "JAN_API_DB_PORT", ServiceAPIDB, 5432, "5432"},
	{"keycloak-db", "JAN_KEYCLOAK_DB_PORT", ServiceKeycloakDB, 5432, "5433"},
	{"otel-grpc", "JAN_OTEL_GRPC_PORT", ServiceOtelCollector, 4317, "4317"},
	{"otel-http", "JAN_OTEL_HTTP_PORT", ServiceOtelCollector, 4318, "4318"},
	{"vllm", "JAN_VLLM_PORT", ServiceVLLMGPU, 8000, "8001"},
	{"vllm", "JAN_VLLM_PORT", ServiceVLLMCPU, 8000, "8001"},
}

// PortSettingFor finds the setting of service's containerPort.
func PortSettingFor(service string, containerPort uint32) (PortSetting, bool) {
	for _, p := range PortSettings {
		if p.Service == service && p.ContainerPort == containerPort {
			return p, true
		}
	}
	return PortSetting{}, false
}

// PortSettingNamed finds a --publish name.
func PortSettingNamed(name string) (PortSetting, bool) {
	for _, p := range PortSettings {
		if p.Name == name {
			return p, true
		}
	}
	return PortSetting{}, false
}

// PortConflict is a port the stack needs that something else holds.
type PortConflict struct {
	Port    string // host port
	HostIP  string // "" = all interfaces
	Service string // who needs it: a service, or "llm-api"
	Owner   string // "container web (3f2a…)", "process nginx (pid 812)", "another program"
	Also    string // instead of Owner: another of the stack's ports set to the same one ("kong")
	Fix     string // the flag / variable that moves it
}

func (p PortConflict) String() string {
	if p.Also != "" {
		return fmt.Sprintf("port %s (%s) is also set for %s: choose another with %s", p.Port, p.Service, p.Also, p.Fix)
	}
	return fmt.Sprintf("port %s (%s) is taken by %s: free it, or choose another with %s", p.Port, p.Service, p.Owner, p.Fix)
}

// PortsError lists every conflict at once, so one run shows them all.
type PortsError []PortConflict

func (e PortsError) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// HostPort is a port jan itself will listen on (the llm-api server).
type HostPort struct {
	Service string // "llm-api"
	Addr    string // host:port
	Fix     string // "--addr or JAN_ADDR"
}

// CheckPorts finds the host ports containers would publish (and extra
// ones jan listens on) that are taken, naming their owner and the setting
// that moves each. Ports held by the stack's own containers are not
// conflicts: Up keeps or replaces those.
func (s *Stack) CheckPorts(ctx context.Context, containers []Container, extra []HostPort) error {
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("stack: list containers: %w", err)
	}
	owners := map[string]string{} // host port → container
	ours := map[string]bool{}
	for _, c := range list.Items {
		name := strings.TrimPrefix(firstOr(c.Names, shortID(c.ID)), "/")
		mine := c.Labels[LabelProject] == s.project() && c.Labels[LabelOwner] == "true"
		for _, p := range c.Ports {
			if p.PublicPort == 0 {
				continue
			}
			port := strconv.Itoa(int(p.PublicPort))
			if mine {
				ours[port] = true
				continue
			}
			owners[port] = fmt.Sprintf("container %s (%s)", name, shortID(c.ID))
		}
	}
	var conflicts PortsError
	// Each port once; a port set for two of the stack's ports (the
	// server's and a container's, two containers', or one container's two)
	// is a conflict of its own: the second bind would fail only once the
	// first is up.
	type claim struct {
		service       string
		containerPort uint32 // 0 for jan's own
		hostIP        string
	}
	claims := map[string][]claim{}
	check := func(service string, containerPort uint32, hostIP, port, fix string) {
		if port == "" || port == "0" {
			return // the engine picks a free one
		}
		this := claim{service, containerPort, hostIP}
		prior := claims[port]
		claims[port] = append(prior, this)
		if len(prior) > 0 {
			for _, c := range prior {
				if (c.service != service || c.containerPort != containerPort) && sameHost(c.hostIP, hostIP) {
					conflicts = append(conflicts, PortConflict{Port: port, HostIP: hostIP, Service: service, Also: c.service, Fix: fix})
					break
				}
			}
			return
		}
		if ours[port] {
			return
		}
		if owner, ok := owners[port]; ok {
			conflicts = append(conflicts, PortConflict{Port: port, HostIP: hostIP, Service: service, Owner: owner, Fix: fix})
			return
		}
		if err := tryListen(hostIP, port); err != nil {
			conflicts = append(conflicts, PortConflict{Port: port, HostIP: hostIP, Service: service, Owner: portOwner(port), Fix: fix})
		}
	}
	for _, h := range extra {
		host, port, err := net.SplitHostPort(h.Addr)
		if err != nil {
			return fmt.Errorf("stack: %s address %q: %w", h.Service, h.Addr, err)
		}
		check(h.Service, 0, host, port, h.Fix)
	}
	for _, c := range containers {
		for _, p := range c.Ports {
			fix := "its port setting"
			if ps, ok := PortSettingFor(c.Service, p.ContainerPort); ok {
				fix = fmt.Sprintf("--publish %s=PORT or %s", ps.Name, ps.Env)
			}
			check(c.Service, p.ContainerPort, p.HostIP, p.HostPort, fix)
		}
	}
	if len(conflicts) > 0 {
		return conflicts
	}
	return nil
}

// sameHost reports whether binds on a and b collide: either is all
// interfaces, or both are the same address.
func sameHost(a, b string) bool {
	all := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return all(a) || all(b) || a == b
}

// tryListen binds hostIP:port for a moment.
func tryListen(hostIP, port string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		// Not ours to judge (e.g. an address this host lacks): the engine
		// will say.
		return nil
	}
	return ln.Close()
}

// portOwner names the process listening on port, from /proc (Linux; as
// root it sees every process), else "another program".
func portOwner(port string) string {
	n, err := strconv.Atoi(port)
	if err != nil {
		return "another program"
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st … inode(9)
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(hexPort, 16, 32); err == nil && int(p) == n {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
		file.Close()
	}
	if len(inodes) == 0 {
		return "another program"
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	var found []string
	seen := map[string]bool{}
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !inodes[link] {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		found = append(found, fmt.Sprintf("process %s (pid %s)", strings.TrimSpace(string(comm)), pid))
	}
	if len(found) == 0 {
		return "another program (not visible to this user)"
	}
	sort.Strings(found)
	return strings.Join(found, ", ")
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}
