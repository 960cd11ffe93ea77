package stacktest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/stack"
)

// secrets are what jan up generates for compose.yaml's ${…:?} variables.
var secrets = map[string]string{
	"POSTGRES_PASSWORD":       "pg-secret",
	"KEYCLOAK_DB_PASSWORD":    "kcdb-secret",
	"KEYCLOAK_ADMIN_PASSWORD": "kc-admin-secret",
	"BACKEND_CLIENT_SECRET":   "backend-secret",
	"VLLM_INTERNAL_KEY":       "vllm-key",
}

// composeContainer is service as jan would create it from compose.yaml,
// with the stand-in images and kong.yml rendered from kong.
func composeContainer(t *testing.T, imgs StandIns, profile stack.Profile, service string, kong stack.KongConfig) stack.Container {
	t.Helper()
	env := imgs.Env()
	for k, v := range secrets {
		env[k] = v
	}
	p, err := stack.Load(context.Background(), profile, env)
	if err != nil {
		t.Fatal(err)
	}
	if kong.Upstream == "" {
		kong = stack.KongConfig{Upstream: "http://host.docker.internal:8080", GatewaySecret: "gw-secret"}
	}
	files, err := stack.Files(kong)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := stack.Convert(p, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Service == service {
			return c
		}
	}
	t.Fatalf("no service %s in compose.yaml (profile %s)", service, profile)
	return stack.Container{}
}

// running is a started, healthy container.
type running struct {
	id    string
	ports map[uint32]string // container port → 127.0.0.1:<host port>
}

var containerSeq atomic.Int64

// startHealthy runs c as jan would (image, entrypoint, command, environment,
// healthcheck, extra hosts, files copied in before start), except that its
// ports are published on random loopback ports and it carries no stack
// labels, so it never meets a real stack. It waits until Docker reports the
// container healthy, and removes it when t ends.
func startHealthy(t *testing.T, cli *client.Client, c stack.Container) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, p := range c.Ports {
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
		if err != nil {
			t.Fatal(err)
		}
		exposed[port] = struct{}{}
		bindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
	}
	cfg := &container.Config{
		Image:        c.Image,
		Entrypoint:   c.Entrypoint,
		Cmd:          c.Cmd,
		Env:          c.Env,
		ExposedPorts: exposed,
		Labels:       map[string]string{"org.jan.test": "stacktest"},
	}
	if h := c.Health; h != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	name := fmt.Sprintf("jan-stacktest-%s-%d-%d", c.Service, os.Getpid(), containerSeq.Add(1))
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   name,
		Config: cfg,
		HostConfig: &container.HostConfig{
			PortBindings: bindings,
			ExtraHosts:   c.ExtraHosts,
			ShmSize:      c.ShmSize,
		},
	})
	if err != nil {
		t.Fatalf("create %s: %v", c.Service, err)
	}
	id := created.ID
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove %s: %v", name, err)
		}
	})
	if len(c.Files) > 0 {
		if _, err := cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: filesTar(t, c.Files)}); err != nil {
			t.Fatalf("copy files into %s: %v", c.Service, err)
		}
	}
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", c.Service, err)
	}

	start := time.Now()
	for {
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatalf("inspect %s: %v", c.Service, err)
		}
		st := res.Container.State
		if st.Health != nil && st.Health.Status == container.Healthy {
			t.Logf("%s healthy after %v", c.Service, time.Since(start).Round(10*time.Millisecond))
			r := &running{id: id, ports: map[uint32]string{}}
			for port, bs := range res.Container.NetworkSettings.Ports {
				for _, b := range bs {
					if b.HostIP.Is4() {
						r.ports[uint32(port.Num())] = b.HostIP.String() + ":" + b.HostPort
					}
				}
			}
			return r
		}
		bad := !st.Running || (st.Health != nil && st.Health.Status == container.Unhealthy) || ctx.Err() != nil
		if bad || time.Since(start) > 45*time.Second {
			var checks strings.Builder
			if st.Health != nil {
				for _, l := range st.Health.Log {
					fmt.Fprintf(&checks, "  exit %d: %s\n", l.ExitCode, strings.TrimSpace(l.Output))
				}
			}
			t.Fatalf("%s is not healthy (status %s, health %v) after %v\nhealthchecks:\n%slogs:\n%s",
				c.Service, st.Status, st.Health, time.Since(start), checks.String(), logs(t, cli, id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// filesTar is a tar of c's files at their absolute targets, with the
// directories a FROM scratch image lacks.
func filesTar(t *testing.T, files []stack.File) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		target := strings.TrimPrefix(path.Clean(f.Target), "/")
		var parents []string
		for d := path.Dir(target); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: target, Mode: int64(f.Mode), Size: int64(len(f.Content))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// logs is the container's output so far, stdout and stderr interleaved.
func logs(t *testing.T, cli *client.Client, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return fmt.Sprintf("(logs: %v)", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		fmt.Fprintf(&out, "(logs: %v)", err)
	}
	return out.String()
}
