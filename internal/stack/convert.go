package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Labels every resource of the stack carries. The compose ones are the set
// Docker Compose writes and filters on, so `docker compose -p jan ps|logs|
// down` see the stack as a Compose project (TestComposeSeesTheStack, with
// Compose v5.6.0 built from its module) and `docker ps --filter label=…`
// finds it; LabelOwner marks what jan created (and may remove);
// LabelConfigHash is how a re-run tells an unchanged container from one to
// recreate.
const (
	LabelProject    = "com.docker.compose.project"
	LabelService    = "com.docker.compose.service"
	LabelOwner      = "ai.jan.managed"
	LabelConfigHash = "ai.jan.config-hash"

	labelOneoff          = "com.docker.compose.oneoff"           // "False": a service's container, not a `run`
	labelContainerNumber = "com.docker.compose.container-number" // jan runs one container a service
	labelDependsOn       = "com.docker.compose.depends_on"       // service:condition:restart,… (down's order)
	labelComposeHash     = "com.docker.compose.config-hash"
	labelComposeVersion  = "com.docker.compose.version"
)

// composeVersion is the Compose release whose labels these are.
const composeVersion = "5.6.0"

// Container is one service as the Engine API will create it: plain values,
// no compose types, so the engine code and its tests need no compose-go.
type Container struct {
	Service    string            `json:"service"`
	Name       string            `json:"name"` // jan-<service>
	Image      string            `json:"image"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"` // KEY=VALUE, sorted
	Ports      []Port            `json:"ports,omitempty"`
	Volumes    []Mount           `json:"volumes,omitempty"`
	Files      []File            `json:"files,omitempty"`
	Health     *Health           `json:"health,omitempty"`
	DependsOn  []Dependency      `json:"depends_on,omitempty"`
	ExtraHosts []string          `json:"extra_hosts,omitempty"` // host:ip, e.g. host.docker.internal:host-gateway
	GPUs       []DeviceRequest   `json:"gpus,omitempty"`
	Restart    string            `json:"restart,omitempty"`
	ShmSize    int64             `json:"shm_size,omitempty"`
	IPC        string            `json:"ipc,omitempty"`
	Labels     map[string]string `json:"labels"`
}

// Port publishes ContainerPort/Protocol on HostIP:HostPort ("" = all interfaces).
type Port struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      string `json:"host_port"`
	ContainerPort uint32 `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// Mount is a named volume (project-scoped: jan_api-db-data) at Target.
type Mount struct {
	Volume   string `json:"volume"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// File is a compose config copied into the container before it starts.
// Content is the bytes to copy (already rendered); only its digest enters
// the config hash and JSON, so secrets inside never leave through either.
type File struct {
	Config  string `json:"config"`
	Target  string `json:"target"`
	Mode    uint32 `json:"mode"`
	Digest  string `json:"digest"`
	Content []byte `json:"-"`
}

// Health is the container's healthcheck in Engine API terms.
type Health struct {
	Test        []string      `json:"test"` // CMD / CMD-SHELL / NONE form
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// Budget is how long the engine's own healthcheck may take to report
// healthy: the start period plus every retry's interval and timeout.
// jan's health wait uses it (with a margin) as its timeout.
func (h *Health) Budget() time.Duration {
	if h == nil {
		return 0
	}
	iv, to := h.Interval, h.Timeout
	if iv == 0 {
		iv = 30 * time.Second
	}
	if to == 0 {
		to = 30 * time.Second
	}
	r := h.Retries
	if r == 0 {
		r = 3
	}
	return h.StartPeriod + time.Duration(r)*(iv+to)
}

// Dependency is one depends_on entry.
type Dependency struct {
	Service   string `json:"service"`
	Condition string `json:"condition"` // service_started | service_healthy | service_completed_successfully
}

// DeviceRequest is a GPU reservation (Engine API DeviceRequest).
type DeviceRequest struct {
	Driver       string   `json:"driver"`
	Count        int      `json:"count"` // -1 = all
	DeviceIDs    []string `json:"device_ids,omitempty"`
	Capabilities []string `json:"capabilities"`
}

// ContainerName is the container of service in project's stack.
func ContainerName(project, service string) string { return project + "-" + service }

// VolumeName is the engine's name of a project volume.
func VolumeName(project, volume string) string { return project + "_" + volume }

// NetworkName is project's one network; every service joins it under its
// service name, as Compose's default network does.
func NetworkName(project string) string { return project + "_default" }

// supportedKeys are the service attributes Convert understands; anything
// else in a service is refused rather than silently ignored. name,
// profiles and networks are compose-go's own bookkeeping.
var supportedKeys = map[string]bool{
	"name": true, "profiles": true, "networks": true,
	"image": true, "command": true, "entrypoint": true, "environment": true,
	"ports": true, "volumes": true, "configs": true, "healthcheck": true,
	"depends_on": true, "extra_hosts": true, "deploy": true, "labels": true,
	"restart": true, "shm_size": true, "ipc": true,
}

// Convert turns the project's services, in start order, into Containers.
// files maps a compose config name (kong, realm-jan, otel-collector) to the
// bytes to copy in (rendered). It refuses attributes outside the supported
// subset, naming the service and the key.
func Convert(p *Project, files map[string][]byte) ([]Container, error) {
	out := make([]Container, 0, len(p.Services))
	for _, s := range p.Services {
		c, err := convertService(p.Name, p.Compose, s, files)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func convertService(project string, proj *types.Project, s types.ServiceConfig, files map[string][]byte) (Container, error) {
	fail := func(key, format string, a ...any) (Container, error) {
		return Container{}, fmt.Errorf("stack: service %s: %s: %s", s.Name, key, fmt.Sprintf(format, a...))
	}
	if err := checkKeys(s); err != nil {
		return Container{}, err
	}
	if s.Image == "" {
		return fail("image", "missing (set %s)", ImageEnv(s.Name))
	}
	if tag := imageTag(s.Image); tag == "" || tag == "latest" {
		return fail("image", "%q is not pinned: name a tag other than latest or a digest", s.Image)
	}
	c := Container{
		Service:    s.Name,
		Name:       ContainerName(project, s.Name),
		Image:      s.Image,
		Entrypoint: []string(s.Entrypoint),
		Cmd:        []string(s.Command),
		Restart:    s.Restart,
		ShmSize:    int64(s.ShmSize),
		IPC:        s.Ipc,
	}
	for k, v := range s.Environment {
		if v != nil {
			c.Env = append(c.Env, k+"="+*v)
		}
	}
	sort.Strings(c.Env)

	for n := range s.Networks {
		if n != "default" {
			return fail("networks", "only the stack's default network is supported, not %q", n)
		}
	}
	for _, pc := range s.Ports {
		if pc.Mode != "" && pc.Mode != "ingress" {
			return fail("ports", "mode %q is not supported", pc.Mode)
		}
		if pc.Published == "" {
			return fail("ports", "container port %d has no published port", pc.Target)
		}
		if _, err := strconv.ParseUint(pc.Published, 10, 16); err != nil {
			return fail("ports", "published port %q is not a port number (ranges are not supported)", pc.Published)
		}
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		c.Ports = append(c.Ports, Port{HostIP: pc.HostIP, HostPort: pc.Published, ContainerPort: pc.Target, Protocol: proto})
	}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeVolume {
			return fail("volumes", "%s mounts are not supported (%s), only named volumes", v.Type, v.Target)
		}
		if _, ok := proj.Volumes[v.Source]; !ok {
			return fail("volumes", "volume %q is not declared under the top-level volumes", v.Source)
		}
		c.Volumes = append(c.Volumes, Mount{Volume: VolumeName(project, v.Source), Target: v.Target, ReadOnly: v.ReadOnly})
	}
	for _, f := range s.Configs {
		data, ok := files[f.Source]
		if !ok {
			return fail("configs", "no content for config %q", f.Source)
		}
		target := f.Target
		if target == "" {
			target = "/" + f.Source
		}
		mode := uint32(0o444)
		if f.Mode != nil {
			mode = uint32(*f.Mode)
		}
		sum := sha256.Sum256(data)
		c.Files = append(c.Files, File{Config: f.Source, Target: target, Mode: mode, Digest: hex.EncodeToString(sum[:]), Content: data})
	}
	if h := s.HealthCheck; h != nil && !h.Disable {
		c.Health = &Health{Test: []string(h.Test)}
		if h.Interval != nil {
			c.Health.Interval = time.Duration(*h.Interval)
		}
		if h.Timeout != nil {
			c.Health.Timeout = time.Duration(*h.Timeout)
		}
		if h.StartPeriod != nil {
			c.Health.StartPeriod = time.Duration(*h.StartPeriod)
		}
		if h.Retries != nil {
			c.Health.Retries = int(*h.Retries)
		}
	}
	for dep, d := range s.DependsOn {
		switch d.Condition {
		case types.ServiceConditionStarted, types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
		default:
			return fail("depends_on", "condition %q of %s is not supported", d.Condition, dep)
		}
		if d.Condition == types.ServiceConditionHealthy {
			if ds, ok := proj.Services[dep]; ok && (ds.HealthCheck == nil || ds.HealthCheck.Disable) {
				return fail("depends_on", "%s: service_healthy, but %s has no healthcheck", dep, dep)
			}
		}
		c.DependsOn = append(c.DependsOn, Dependency{Service: dep, Condition: d.Condition})
	}
	sort.Slice(c.DependsOn, func(i, j int) bool { return c.DependsOn[i].Service < c.DependsOn[j].Service })
	c.ExtraHosts = s.ExtraHosts.AsList(":")
	sort.Strings(c.ExtraHosts)
	if s.Deploy != nil {
		gpus, err := convertDeploy(s.Deploy)
		if err != nil {
			return fail("deploy", "%v", err)
		}
		c.GPUs = gpus
	}

	c.Labels = map[string]string{}
	for k, v := range s.Labels {
		c.Labels[k] = v
	}
	c.Labels[LabelProject] = project
	c.Labels[LabelService] = s.Name
	c.Labels[LabelOwner] = "true"
	c.Labels[labelOneoff] = "False"
	c.Labels[labelContainerNumber] = "1"
	c.Labels[labelComposeVersion] = composeVersion
	var deps []string
	for _, d := range c.DependsOn {
		deps = append(deps, d.Service+":"+d.Condition+":false")
	}
	if len(deps) > 0 {
		c.Labels[labelDependsOn] = strings.Join(deps, ",")
	}
	c.Labels[LabelConfigHash] = ConfigHash(c)
	c.Labels[labelComposeHash] = c.Labels[LabelConfigHash]
	return c, nil
}

// checkKeys refuses service attributes outside supportedKeys. compose-go's
// own JSON form omits unset attributes, so its keys are exactly what the
// file (after interpolation and profiles) set.
func checkKeys(s types.ServiceConfig) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("stack: service %s: %w", s.Name, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("stack: service %s: %w", s.Name, err)
	}
	var bad []string
	for k := range m {
		if !supportedKeys[k] {
			bad = append(bad, k)
		}
	}
	// compose-go always records these; they carry nothing when zero.
	if s.PullPolicy == "" {
		bad = without(bad, "pull_policy")
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("stack: service %s: unsupported compose key %s (jan's stack supports %s)",
			s.Name, strings.Join(bad, ", "), strings.Join(sortedKeys(supportedKeys), ", "))
	}
	return nil
}

// convertDeploy accepts only GPU device reservations.
func convertDeploy(d *types.DeployConfig) ([]DeviceRequest, error) {
	if d.Mode != "" || d.Replicas != nil || len(d.Labels) > 0 || d.UpdateConfig != nil ||
		d.RollbackConfig != nil || d.RestartPolicy != nil || d.EndpointMode != "" ||
		len(d.Placement.Constraints) > 0 || len(d.Placement.Preferences) > 0 || d.Placement.MaxReplicas != 0 ||
		d.Resources.Limits != nil {
		return nil, fmt.Errorf("only resources.reservations.devices is supported")
	}
	r := d.Resources.Reservations
	if r == nil {
		return nil, nil
	}
	if r.NanoCPUs != 0 || r.MemoryBytes != 0 || r.Pids != 0 || len(r.GenericResources) > 0 {
		return nil, fmt.Errorf("only resources.reservations.devices is supported")
	}
	var out []DeviceRequest
	for _, dev := range r.Devices {
		if len(dev.Options) > 0 {
			return nil, fmt.Errorf("resources.reservations.devices: options are not supported")
		}
		count := int(dev.Count)
		if count == 0 && len(dev.IDs) == 0 {
			count = -1 // compose: no count and no ids means all
		}
		out = append(out, DeviceRequest{Driver: dev.Driver, Count: count, DeviceIDs: dev.IDs, Capabilities: dev.Capabilities})
	}
	return out, nil
}

// ConfigHash digests everything about c that the container is created
// from (not its own hash label): equal hashes mean an existing container
// can be kept. File contents enter through their digests.
func ConfigHash(c Container) string {
	labels := make(map[string]string, len(c.Labels))
	for k, v := range c.Labels {
		if k != LabelConfigHash && k != labelComposeHash {
			labels[k] = v
		}
	}
	c.Labels = labels
	b, _ := json.Marshal(c) // maps marshal with sorted keys: stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// imageTag returns the tag or digest of ref ("" when it has neither).
func imageTag(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return ""
}

func without(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
