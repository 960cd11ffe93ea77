package stack

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Stack drives jan's containers, network and volumes on one engine. It
// touches only resources labelled as the jan project and created by jan
// (LabelOwner); anything else with a clashing name is an error to show,
// never something to remove.
type Stack struct {
	cli *client.Client
	ep  Endpoint
	// Project is the Compose project this Stack manages; "" = DefaultProject.
	Project string
	// Report receives progress (pulls, creates, health); nil = silent.
	Report func(Event)
}

// Event is one step of progress for people to see.
type Event struct {
	Service string // "" for the stack as a whole
	Step    string // see the Step* constants
	Detail  string
	// Current and Total are a pull's bytes so far and in all (0 = unknown).
	Current, Total int64
}

// Steps an Event reports.
const (
	StepPull     = "pull"     // Detail: image; Current/Total bytes
	StepPulled   = "pulled"   // Detail: image
	StepCreate   = "create"   // a new container
	StepRecreate = "recreate" // its configuration changed
	StepKeep     = "keep"     // running and unchanged
	StepStart    = "start"
	StepWait     = "wait" // waiting for the healthcheck; Detail: budget
	StepHealthy  = "healthy"
	StepRollback = "rollback" // Detail: what is removed
	StepRemove   = "remove"
	StepPullsEnd = "pulls-end" // every pull of a batch has ended
	StepNote     = "note"      // Detail: a sentence for people (a choice, a fallback, a warning)
)

// NewStack returns a Stack on an engine client (see NewEngineClient).
func NewStack(cli *client.Client, ep Endpoint) *Stack { return &Stack{cli: cli, ep: ep} }

// Client is the engine client (for tests and jan doctor).
func (s *Stack) Client() *client.Client { return s.cli }

// Endpoint is the engine the stack talks to.
func (s *Stack) Endpoint() Endpoint { return s.ep }

func (s *Stack) report(e Event) {
	if s.Report != nil {
		s.Report(e)
	}
}

// Ping checks that the engine answers.
func (s *Stack) Ping(ctx context.Context) error { return Ping(ctx, s.cli, s.ep) }

// CreateOptions is the Engine API form of c: what ContainerCreate gets.
func CreateOptions(c Container) (client.ContainerCreateOptions, error) {
	cfg := &container.Config{
		Image:      c.Image,
		Env:        c.Env,
		Cmd:        c.Cmd,
		Entrypoint: c.Entrypoint,
		Labels:     c.Labels,
	}
	hc := &container.HostConfig{
		ExtraHosts: c.ExtraHosts,
		ShmSize:    c.ShmSize,
		IpcMode:    container.IpcMode(c.IPC),
	}
	if c.Restart != "" && c.Restart != "no" {
		hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(c.Restart)}
	}
	if len(c.Ports) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		hc.PortBindings = network.PortMap{}
		for _, p := range c.Ports {
			port, err := network.ParsePort(fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
			if err != nil {
				return client.ContainerCreateOptions{}, fmt.Errorf("stack: service %s: port %d: %w", c.Service, p.ContainerPort, err)
			}
			b := network.PortBinding{HostPort: p.HostPort}
			if p.HostIP != "" {
				ip, err := netip.ParseAddr(p.HostIP)
				if err != nil {
					return client.ContainerCreateOptions{}, fmt.Errorf("stack: service %s: host IP %q: %w", c.Service, p.HostIP, err)
				}
				b.HostIP = ip
			}
			cfg.ExposedPorts[port] = struct{}{}
			hc.PortBindings[port] = append(hc.PortBindings[port], b)
		}
	}
	for _, m := range c.Volumes {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: m.Volume, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for _, g := range c.GPUs {
		caps := [][]string{g.Capabilities}
		if len(g.Capabilities) == 0 {
			caps = [][]string{{"gpu"}}
		}
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{
			Driver: g.Driver, Count: g.Count, DeviceIDs: g.DeviceIDs, Capabilities: caps,
		})
	}
	if h := c.Health; h != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	return client.ContainerCreateOptions{
		Name:       c.Name,
		Config:     cfg,
		HostConfig: hc,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			NetworkName(c.Labels[LabelProject]): {Aliases: []string{c.Service}},
		}},
	}, nil
}

// filesTar packs c's config files at their targets (parent directories
// included) for CopyToContainer at "/".
func filesTar(files []File) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dirs := map[string]bool{}
	now := time.Now()
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Target < sorted[j].Target })
	for _, f := range sorted {
		target := strings.TrimPrefix(path.Clean("/"+f.Target), "/")
		var parents []string
		for d := path.Dir(target); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[i] + "/", Mode: 0o755, ModTime: now}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: int64(f.Mode), Size: int64(len(f.Content)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (s *Stack) project() string {
	if s.Project == "" {
		return DefaultProject
	}
	return s.Project
}

// filter selects the stack's resources that jan created.
func (s *Stack) filter() client.Filters {
	return client.Filters{}.Add("label", LabelProject+"="+s.project(), LabelOwner+"=true")
}

// labels are the labels of a network or volume jan creates.
func (s *Stack) labels(extra ...string) map[string]string {
	l := map[string]string{LabelProject: s.project(), LabelOwner: "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// inspect returns the container named name, or ok=false when there is none.
func (s *Stack) inspect(ctx context.Context, name string) (container.InspectResponse, bool, error) {
	r, err := s.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return container.InspectResponse{}, false, nil
	}
	if err != nil {
		return container.InspectResponse{}, false, fmt.Errorf("stack: inspect %s: %w", name, err)
	}
	return r.Container, true, nil
}

// ensureNetwork creates the stack's network unless it exists; created says
// whether this call made it.
func (s *Stack) ensureNetwork(ctx context.Context) (created bool, err error) {
	name := NetworkName(s.project())
	r, err := s.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		if r.Network.Labels[LabelProject] != s.project() {
			return false, fmt.Errorf("stack: a network named %s exists but is not jan's (remove it: docker network rm %s)", name, name)
		}
		return false, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("stack: network %s: %w", name, err)
	}
	if _, err := s.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge", Labels: s.labels("com.docker.compose.network", "default"),
	}); err != nil {
		return false, fmt.Errorf("stack: create network %s: %w", name, err)
	}
	return true, nil
}

// ensureVolume creates a project volume unless it exists.
func (s *Stack) ensureVolume(ctx context.Context, name string) (created bool, err error) {
	r, err := s.cli.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err == nil {
		if r.Volume.Labels[LabelProject] != s.project() {
			return false, fmt.Errorf("stack: a volume named %s exists but is not jan's (rename or remove it: docker volume rm %s)", name, name)
		}
		return false, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("stack: volume %s: %w", name, err)
	}
	short := strings.TrimPrefix(name, s.project()+"_")
	if _, err := s.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: s.labels("com.docker.compose.volume", short)}); err != nil {
		return false, fmt.Errorf("stack: create volume %s: %w", name, err)
	}
	return true, nil
}

// lastLogs returns up to n last lines of a container's output.
func (s *Stack) lastLogs(ctx context.Context, id string, n int) []string {
	var b bytes.Buffer
	if err := s.copyLogs(ctx, id, LogOptions{Tail: fmt.Sprint(n)}, &b, &b); err != nil {
		return []string{"(logs unavailable: " + err.Error() + ")"}
	}
	text := strings.TrimRight(b.String(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}
