package stack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/janhq/jan/assets"
	"github.com/janhq/jan/internal/stack"
	"github.com/janhq/jan/internal/stack/stacktest"
)

// These tests run the orchestrator against the real engine with the
// stand-in images (internal/stack/stacktest), each in a project of its
// own so they never touch a developer's jan stack.

// miniCompose is two services, enough for ordering, health, files,
// volumes and config-hash behaviour: an engine, and a collector that
// waits for the engine to be healthy.
const miniCompose = `
name: ignored
services:
  vllm-cpu:
    image: ${IMG_VLLM}
    command: ["--served-model-name=m", "--host=0.0.0.0", "--port=8000"]
    environment:
      VLLM_API_KEY: k
      MARK: ${MARK:-a}
    ports: ["127.0.0.1:${ENGINE_PORT:-0}:8000"]
    volumes: [data:/data]
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${HEALTH_PORT:-8000}/health', timeout=4)"]
      interval: 1s
      timeout: 2s
      retries: ${RETRIES:-20}
      start_period: ${START_PERIOD:-0s}
  otel-collector:
    image: ${IMG_OTEL}
    command: ["--config=/etc/otelcol/config.yaml"]
    configs: [{source: otel-collector, target: /etc/otelcol/config.yaml}]
    depends_on:
      vllm-cpu: {condition: service_healthy}
    healthcheck:
      test: ["CMD", "/otelcol-contrib", "--version"]
      interval: 1s
      retries: 10
volumes:
  data: {}
configs:
  otel-collector:
    file: ./otel-collector.yaml
`

type fixture struct {
	st      *stack.Stack
	cli     *client.Client
	imgs    stacktest.StandIns
	project string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cli := stacktest.Docker(t)
	imgs := stacktest.Images(t, cli)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	f := &fixture{cli: cli, imgs: imgs, project: "jantest" + hex.EncodeToString(b)}
	f.st = stack.NewStack(cli, stack.Endpoint{Host: cli.DaemonHost(), Source: "test"})
	f.st.Project = f.project
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := f.st.Down(ctx, true); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return f
}

// containers converts miniCompose with env (KEY, VALUE pairs).
func (f *fixture) containers(t *testing.T, kv ...string) []stack.Container {
	t.Helper()
	env := map[string]string{stack.ProjectEnv: f.project, "IMG_VLLM": f.imgs.VLLM, "IMG_OTEL": f.imgs.OtelCollector}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	p, err := stack.LoadBytes(context.Background(), []byte(miniCompose), stack.ProfileCPU, env)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := stack.Convert(p, map[string][]byte{"otel-collector": assets.OtelCollectorYAML})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// leftovers lists what of the project is still on the engine.
func (f *fixture) leftovers(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	filter := client.Filters{}.Add("label", stack.LabelProject+"="+f.project)
	var out []string
	cs, err := f.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	vs, err := f.cli.VolumeList(ctx, client.VolumeListOptions{Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Items {
		out = append(out, "volume "+v.Name)
	}
	ns, err := f.cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	return out
}

// freePort is a host port for a container to publish (stacktest.HostPort).
func freePort(t *testing.T) string { return stacktest.HostPort(t) }

// Up creates and starts in order; a second Up changes nothing; changing
// one service's configuration recreates only it; Down keeps volumes
// unless asked.
func TestUpIsIdempotentAndRecreatesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	port := freePort(t)
	var events []stack.Event
	f.st.Report = func(e stack.Event) { events = append(events, e) }

	res, err := f.st.Up(ctx, f.containers(t, "ENGINE_PORT", port))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 2 {
		t.Fatalf("first up: %+v", res)
	}
	// The collector waited for the engine's healthcheck.
	healthy, created := -1, -1
	for i, e := range events {
		if e.Service == "vllm-cpu" && e.Step == stack.StepHealthy && healthy < 0 {
			healthy = i
		}
		if e.Service == "otel-collector" && e.Step == stack.StepCreate && created < 0 {
			created = i
		}
	}
	if healthy < 0 || created < healthy {
		t.Errorf("otel-collector was created (event %d) before vllm-cpu was healthy (event %d)", created, healthy)
	}
	status, err := f.st.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != 2 || status[1].Service != "vllm-cpu" || status[1].Health != "healthy" || status[1].Ports[0] != "127.0.0.1:"+port+"->8000/tcp" {
		t.Errorf("status = %+v", status)
	}

	res, err = f.st.Up(ctx, f.containers(t, "ENGINE_PORT", port))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Kept) != 2 || len(res.Created)+len(res.Recreated)+len(res.Started) != 0 {
		t.Errorf("second up changed something: %+v", res)
	}

	res, err = f.st.Up(ctx, f.containers(t, "ENGINE_PORT", port, "MARK", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Recreated, ",") != "vllm-cpu" || strings.Join(res.Kept, ",") != "otel-collector" {
		t.Errorf("after changing vllm-cpu's environment: %+v", res)
	}

	down, err := f.st.Down(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(down.Containers) != 2 || !down.Network {
		t.Errorf("down = %+v", down)
	}
	if left := f.leftovers(t); len(left) != 1 || left[0] != "volume "+f.project+"_data" {
		t.Errorf("after down: %v, want only the volume", left)
	}
	if _, err := f.st.Down(ctx, true); err != nil {
		t.Fatal(err)
	}
	if left := f.leftovers(t); len(left) != 0 {
		t.Errorf("after down --volumes: %v", left)
	}
}

// A service whose healthcheck never passes fails Up within its budget,
// with its last log lines, and nothing Up created stays behind.
func TestUpUnhealthyServiceRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	start := time.Now()
	_, err := f.st.Up(context.Background(), f.containers(t, "ENGINE_PORT", freePort(t), "HEALTH_PORT", "9", "RETRIES", "2"))
	var se *stack.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("Up = %v, want a *ServiceError", err)
	}
	if se.Service != "vllm-cpu" || !strings.Contains(se.Reason, "unhealthy") {
		t.Errorf("service %q reason %q", se.Service, se.Reason)
	}
	if !strings.Contains(strings.Join(se.Logs, "\n"), "vLLM API server") {
		t.Errorf("no log lines of the service in the error: %q", se.Logs)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Up took %s to notice (healthcheck budget ~6 s)", d)
	}
	if left := f.leftovers(t); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Cancelling Up (Ctrl+C) while it waits rolls back the same way.
func TestUpCancelledRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.st.Report = func(e stack.Event) {
		if e.Step == stack.StepWait {
			go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		}
	}
	_, err := f.st.Up(ctx, f.containers(t, "ENGINE_PORT", freePort(t), "HEALTH_PORT", "9", "START_PERIOD", "60s"))
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Up = %v, want cancelled", err)
	}
	if left := f.leftovers(t); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Taken ports are found before anything starts, each with its owner and
// the setting that moves it.
func TestCheckPortsNamesOwners(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	byProcess := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	// Someone else's container publishing a port.
	byContainer := freePort(t)
	name := f.project + "-squatter"
	r, err := f.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   name,
		Config: &container.Config{Image: f.imgs.VLLM, Cmd: []string{"--port=8000"}, ExposedPorts: network.PortSet{network.MustParsePort("8000/tcp"): {}}},
		HostConfig: &container.HostConfig{PortBindings: network.PortMap{network.MustParsePort("8000/tcp"): {
			{HostPort: byContainer},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = f.cli.ContainerRemove(context.Background(), r.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := f.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}

	cs := f.containers(t, "ENGINE_PORT", byProcess)
	cs[0].Ports = append(cs[0].Ports, stack.Port{HostPort: byContainer, ContainerPort: 9000, Protocol: "tcp"})
	err = f.st.CheckPorts(ctx, cs, []stack.HostPort{{Service: "llm-api", Addr: "127.0.0.1:" + freePort(t), Fix: "--addr"}})
	var pe stack.PortsError
	if !errors.As(err, &pe) || len(pe) != 2 {
		t.Fatalf("CheckPorts = %v, want two conflicts", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"port " + byProcess + " (vllm-cpu) is taken by process",
		"--publish vllm=PORT or JAN_VLLM_PORT",
		"port " + byContainer + " (vllm-cpu) is taken by container " + name,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q not in:\n%s", want, msg)
		}
	}
	if left := f.leftovers(t); len(left) != 0 {
		t.Errorf("CheckPorts created %v", left)
	}
}

// A port set for two of the stack's ports is a conflict even while it is
// free: the second bind would fail once the first is up.
func TestCheckPortsFindsAPortSetTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	p := freePort(t)
	cs := f.containers(t, "ENGINE_PORT", p) // vllm-cpu on 127.0.0.1:p
	server := []stack.HostPort{{Service: "llm-api", Addr: "127.0.0.1:" + p, Fix: "--addr"}}
	err := f.st.CheckPorts(ctx, cs, server)
	var pe stack.PortsError
	if !errors.As(err, &pe) || len(pe) != 1 || pe[0].Also != "llm-api" || pe[0].Service != "vllm-cpu" {
		t.Fatalf("CheckPorts = %#v, want vllm-cpu's port also set for llm-api", err)
	}
	if want := "port " + p + " (vllm-cpu) is also set for llm-api: choose another with --publish vllm=PORT or JAN_VLLM_PORT"; err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}

	// The same port on another loopback address does not collide; a
	// second port of the same container on it does.
	server[0].Addr = "127.0.0.2:" + p
	if err := f.st.CheckPorts(ctx, cs, server); err != nil {
		t.Errorf("on 127.0.0.2: %v", err)
	}
	cs[0].Ports = append(cs[0].Ports, stack.Port{HostIP: "", HostPort: p, ContainerPort: 9000, Protocol: "tcp"})
	if err := f.st.CheckPorts(ctx, cs, nil); !errors.As(err, &pe) || len(pe) != 1 || pe[0].Also != "vllm-cpu" {
		t.Errorf("two ports of one container on %s: %v", p, err)
	}

	// Ports the engine picks (0) are never the same one.
	cs = f.containers(t) // vllm-cpu on 127.0.0.1:0
	cs[0].Ports = append(cs[0].Ports, stack.Port{HostIP: "127.0.0.1", HostPort: "0", ContainerPort: 9000, Protocol: "tcp"})
	if err := f.st.CheckPorts(ctx, cs, nil); err != nil {
		t.Errorf("two ports the engine picks: %v", err)
	}
}

// The GPU profile asks for the GPU; on an engine without the NVIDIA
// runtime the start fails as ErrGPU with the fix, the probe says the same,
// and nothing is left behind.
func TestGPUProfileOnAnEngineWithoutGPU(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	env := f.imgs.Env()
	for k, v := range map[string]string{stack.ProjectEnv: f.project, "JAN_VLLM_PORT": freePort(t)} {
		env[k] = v
	}
	plan, err := stack.NewPlan(ctx, stack.Settings{DataDir: t.TempDir(), Env: env, Profile: stack.ProfileGPU})
	if err != nil {
		t.Fatal(err)
	}
	vllm, _ := plan.Container(stack.ServiceVLLMGPU)

	opts, err := stack.CreateOptions(vllm)
	if err != nil {
		t.Fatal(err)
	}
	opts.Name, opts.NetworkingConfig, opts.HostConfig.Mounts = f.project+"-gpu-inspect", nil, nil
	created, err := f.cli.ContainerCreate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = f.cli.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	in, err := f.cli.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dr := in.Container.HostConfig.DeviceRequests
	if len(dr) != 1 || dr[0].Driver != "nvidia" || dr[0].Count != -1 || dr[0].Capabilities[0][0] != "gpu" {
		t.Errorf("the engine recorded device requests %+v", dr)
	}

	if err := f.st.ProbeGPU(ctx, vllm.Image); !errors.Is(err, stack.ErrGPU) {
		t.Errorf("ProbeGPU = %v, want ErrGPU", err)
	}
	_, err = f.st.Up(ctx, []stack.Container{vllm})
	if !errors.Is(err, stack.ErrGPU) || !strings.Contains(err.Error(), "NVIDIA Container Toolkit") {
		t.Errorf("Up = %v, want ErrGPU with the fix", err)
	}
	_, _ = f.cli.ContainerRemove(ctx, created.ID, client.ContainerRemoveOptions{Force: true})
	if left := f.leftovers(t); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
