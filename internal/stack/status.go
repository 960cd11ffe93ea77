package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/proc"
)

// ServiceStatus is one container of the stack as the engine reports it.
type ServiceStatus struct {
	Service string   `json:"service"`
	Name    string   `json:"container"`
	ID      string   `json:"id"`
	Image   string   `json:"image"`
	State   string   `json:"state"`            // running, exited, created, restarting, …
	Health  string   `json:"health,omitempty"` // healthy, unhealthy, starting; "" = no healthcheck
	Status  string   `json:"status"`           // the engine's words: "Up 3 minutes (healthy)"
	Ports   []string `json:"ports,omitempty"`  // "127.0.0.1:5432->5432/tcp"
}

// Status lists the stack's containers, in service name order.
func (s *Stack) Status(ctx context.Context) ([]ServiceStatus, error) {
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: s.filter()})
	if err != nil {
		return nil, fmt.Errorf("stack: list containers: %w", err)
	}
	out := make([]ServiceStatus, 0, len(list.Items))
	for _, c := range list.Items {
		st := ServiceStatus{
			Service: c.Labels[LabelService],
			Name:    strings.TrimPrefix(firstOr(c.Names, ""), "/"),
			ID:      shortID(c.ID),
			Image:   c.Image,
			State:   string(c.State),
			Status:  c.Status,
		}
		if c.Health != nil && c.Health.Status != "none" {
			st.Health = string(c.Health.Status)
		} else {
			// Engines before API 1.52 only say it in Status: "Up 2s (healthy)".
			for _, h := range []string{"healthy", "unhealthy", "health: starting"} {
				if strings.Contains(c.Status, "("+h+")") {
					st.Health = strings.TrimPrefix(h, "health: ")
					break
				}
			}
		}
		for _, p := range c.Ports {
			if p.PublicPort == 0 {
				continue
			}
			ip := ""
			if p.IP.IsValid() {
				ip = p.IP.String() + ":"
			}
			st.Ports = append(st.Ports, fmt.Sprintf("%s%d->%d/%s", ip, p.PublicPort, p.PrivatePort, p.Type))
		}
		sort.Strings(st.Ports)
		st.Ports = dedupe(st.Ports)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

// removeContainer stops (within 10 s) and removes one of the stack's
// containers.
func (s *Stack) removeContainer(ctx context.Context, id, state, name string) error {
	s.report(Event{Service: name, Step: StepRemove})
	timeout := 10
	if state == "running" || state == "restarting" {
		if _, err := s.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop %s: %w", name, err)
		}
	}
	if _, err := s.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// RemoveOrphans stops and removes the project's containers whose service
// is not among keep (what an earlier jan up ran with another inference
// choice or without --without), and returns their services. Volumes stay.
func (s *Stack) RemoveOrphans(ctx context.Context, keep []Container) ([]string, error) {
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: s.filter()})
	if err != nil {
		return nil, fmt.Errorf("stack: list containers: %w", err)
	}
	var removed []string
	var errs []error
	for _, c := range list.Items {
		name := c.Labels[LabelService]
		if slices.ContainsFunc(keep, func(k Container) bool { return k.Service == name }) {
			continue
		}
		if err := s.removeContainer(ctx, c.ID, string(c.State), name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	sort.Strings(removed)
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("stack: %w", err)
	}
	return removed, nil
}

// DownResult says what Down removed.
type DownResult struct {
	Containers []string
	Network    bool
	Volumes    []string
}

// Down stops and removes the stack's containers and network; with
// volumes, its volumes (and so its data) too. Only what jan created is
// touched.
func (s *Stack) Down(ctx context.Context, volumes bool) (DownResult, error) {
	var res DownResult
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: s.filter()})
	if err != nil {
		return res, fmt.Errorf("stack: list containers: %w", err)
	}
	var errs []error
	for _, c := range list.Items {
		name := c.Labels[LabelService]
		if err := s.removeContainer(ctx, c.ID, string(c.State), name); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Containers = append(res.Containers, name)
	}
	sort.Strings(res.Containers)
	nets, err := s.cli.NetworkList(ctx, client.NetworkListOptions{Filters: s.filter()})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range nets.Items {
		if _, err := s.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		res.Network = true
	}
	if volumes {
		vols, err := s.cli.VolumeList(ctx, client.VolumeListOptions{Filters: s.filter()})
		if err != nil {
			errs = append(errs, fmt.Errorf("list volumes: %w", err))
		}
		for _, v := range vols.Items {
			s.report(Event{Step: StepRemove, Detail: "volume " + v.Name})
			if _, err := s.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
				continue
			}
			res.Volumes = append(res.Volumes, v.Name)
		}
		sort.Strings(res.Volumes)
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("stack: %w", err)
	}
	return res, nil
}

// Volumes lists the stack's volumes.
func (s *Stack) Volumes(ctx context.Context) ([]string, error) {
	vols, err := s.cli.VolumeList(ctx, client.VolumeListOptions{Filters: s.filter()})
	if err != nil {
		return nil, fmt.Errorf("stack: list volumes: %w", err)
	}
	names := make([]string, 0, len(vols.Items))
	for _, v := range vols.Items {
		names = append(names, v.Name)
	}
	sort.Strings(names)
	return names, nil
}

// LogOptions select a container's output.
type LogOptions struct {
	Follow     bool
	Since      string // a duration ("10m") or a timestamp, as docker logs
	Tail       string // a number of lines, or "all"
	Timestamps bool
}

// Logs copies service's output to stdout and stderr (demultiplexed).
func (s *Stack) Logs(ctx context.Context, service string, opts LogOptions, stdout, stderr io.Writer) error {
	c, ok, err := s.inspect(ctx, ContainerName(s.project(), service))
	if err != nil {
		return err
	}
	if !ok || c.Config == nil || c.Config.Labels[LabelOwner] != "true" {
		return fmt.Errorf("stack: no %s container (is the stack up? jan status)", service)
	}
	return s.copyLogs(ctx, c.ID, opts, stdout, stderr)
}

func (s *Stack) copyLogs(ctx context.Context, id string, opts LogOptions, stdout, stderr io.Writer) error {
	since := opts.Since
	if d, err := time.ParseDuration(since); err == nil {
		since = strconv.FormatInt(time.Now().Add(-d).Unix(), 10)
	}
	r, err := s.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Since: since, Tail: opts.Tail, Timestamps: opts.Timestamps,
	})
	if err != nil {
		return fmt.Errorf("stack: logs: %w", err)
	}
	defer r.Close()
	info, err := s.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err == nil && info.Container.Config != nil && info.Container.Config.Tty {
		_, err = io.Copy(stdout, r)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, r)
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("stack: logs: %w", err)
	}
	return nil
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// Overview is what jan status shows: the engine, the services, and the
// llm-api server and profile jan up recorded.
type Overview struct {
	Engine   string            `json:"engine"`
	Profile  string            `json:"profile,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Model    string            `json:"model,omitempty"`
	Server   ServerStatus      `json:"server"`
	Services []ServiceStatus   `json:"services"`
	URLs     map[string]string `json:"urls,omitempty"`
	// State is what jan up recorded (its URLs in order, whether the
	// server runs in a terminal).
	State State `json:"-"`
}

// ServerStatus is the llm-api server as jan status sees it.
type ServerStatus struct {
	Addr  string `json:"addr"`
	PID   int    `json:"pid,omitempty"` // while its process runs
	Ready bool   `json:"ready"`         // it answers /readyz
}

// Overview gathers the stack's services and what jan up recorded in
// dataDir; serverAddr is where the server listens when jan up recorded
// none.
func (s *Stack) Overview(ctx context.Context, dataDir, serverAddr string) (*Overview, error) {
	services, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	state, _, _ := LoadState(dataDir)
	if state.ServerAddr != "" {
		serverAddr = state.ServerAddr
	}
	o := &Overview{Engine: s.Endpoint().Host, Profile: state.Profile, Reason: state.Reason, Model: state.Model, State: state,
		Server: ServerStatus{Addr: serverAddr, Ready: answersReady(ctx, serverAddr)}, Services: services}
	if proc.Alive(state.ServerPID) {
		o.Server.PID = state.ServerPID
	}
	if len(state.URLs) > 0 {
		o.URLs = map[string]string{}
		for _, u := range state.URLs {
			o.URLs[u[0]] = u[1]
		}
	}
	return o, nil
}

// answersReady says whether the server at addr answers /readyz (within
// half a second).
func answersReady(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}
