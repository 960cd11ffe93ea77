package stack

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// EngineInfo is what jan needs from the engine's /info.
type EngineInfo struct {
	Version  string
	RootDir  string   // DockerRootDir (where images and volumes live)
	Runtimes []string // "runc", "nvidia", …
	NVIDIA   bool     // an nvidia runtime is registered
}

// Info asks the engine about itself.
func (s *Stack) Info(ctx context.Context) (EngineInfo, error) {
	r, err := s.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return EngineInfo{}, fmt.Errorf("stack: engine info: %w", err)
	}
	in := EngineInfo{Version: r.Info.ServerVersion, RootDir: r.Info.DockerRootDir}
	for name := range r.Info.Runtimes {
		in.Runtimes = append(in.Runtimes, name)
		if name == "nvidia" {
			in.NVIDIA = true
		}
	}
	return in, nil
}

// BridgeGateway is the default bridge network's gateway address: where
// host-gateway (host.docker.internal) points by default. "" when unknown.
func (s *Stack) BridgeGateway(ctx context.Context) string {
	r, err := s.cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return ""
	}
	for _, c := range r.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return c.Gateway.String()
		}
	}
	// Engines that leave the gateway out of IPAM: the bridge interface's
	// own address is the gateway.
	name := r.Network.Options["com.docker.network.bridge.name"]
	if name == "" {
		name = "docker0"
	}
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return ""
	}
	addrs, _ := iface.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// ProbeGPU runs a short container of image with a GPU device request and
// nvidia-smi (which the NVIDIA Container Toolkit mounts into it): nil when
// the engine can give containers a GPU, an error wrapping ErrGPU with the
// fix when it cannot. The probe container is always removed.
func (s *Stack) ProbeGPU(ctx context.Context, image string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err := s.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Entrypoint: []string{"nvidia-smi", "-L"},
			Labels: map[string]string{LabelProject: s.project(), LabelOwner: "true", LabelService: "gpu-probe"}},
		HostConfig: &container.HostConfig{Resources: container.Resources{DeviceRequests: []container.DeviceRequest{
			{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}},
		}}},
	})
	if err != nil {
		return fmt.Errorf("stack: GPU probe: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = s.cli.ContainerRemove(rctx, r.ID, client.ContainerRemoveOptions{Force: true})
	}()
	if _, err := s.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		if isGPUError(err) {
			return fmt.Errorf("%w: %s — install the NVIDIA Container Toolkit and restart Docker, or use --gpu=none", ErrGPU, firstLine(err.Error()))
		}
		return fmt.Errorf("stack: GPU probe: %w", err)
	}
	wait := s.cli.ContainerWait(ctx, r.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			logs := s.lastLogs(ctx, r.ID, 5)
			return fmt.Errorf("%w: nvidia-smi in a container exited %d: %v", ErrGPU, res.StatusCode, logs)
		}
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("stack: GPU probe: %w", err)
	}
}

// ServerListenAddrs are the extra addresses the llm-api server must listen
// on so Kong reaches it through host.docker.internal: when it listens on
// loopback only, the bridge's gateway address on this machine (Docker
// Desktop routes host.docker.internal to the host's loopback itself, so
// there it needs none).
func (s *Stack) ServerListenAddrs(ctx context.Context, serverAddr string) []string {
	host, port, err := net.SplitHostPort(serverAddr)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	gw := s.BridgeGateway(ctx)
	if gw == "" {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == gw {
			return []string{net.JoinHostPort(gw, port)}
		}
	}
	return nil
}
