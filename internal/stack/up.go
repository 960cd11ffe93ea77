package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// UpResult says what Up did to each service.
type UpResult struct {
	Created   []string // new containers
	Recreated []string // replaced because their configuration changed
	Started   []string // existing, unchanged, were stopped
	Kept      []string // running and unchanged: left alone
	Removed   []string // the project's containers of services this plan does not run (RemoveOrphans)
	// HealthWait is the wall time during which Up waited on at least one
	// container's healthcheck; the rest of Up's time is jan's and the
	// engine's own work.
	HealthWait time.Duration
}

// waitClock adds up the union of the intervals in which some service was
// waiting on its healthcheck.
type waitClock struct {
	mu     sync.Mutex
	active int
	since  time.Time
	total  time.Duration
}

func (w *waitClock) enter() {
	w.mu.Lock()
	if w.active == 0 {
		w.since = time.Now()
	}
	w.active++
	w.mu.Unlock()
}

func (w *waitClock) leave() {
	w.mu.Lock()
	if w.active--; w.active == 0 {
		w.total += time.Since(w.since)
	}
	w.mu.Unlock()
}

// ServiceError is a service that did not come up: why, and the last lines
// of its output, which usually say the rest.
type ServiceError struct {
	Service string
	Reason  string
	Logs    []string
	Err     error // the engine's error, when there was one
}

func (e *ServiceError) Error() string {
	msg := fmt.Sprintf("service %s %s", e.Service, e.Reason)
	if len(e.Logs) > 0 {
		msg += "\n  last log lines of " + e.Service + ":\n    " + strings.Join(e.Logs, "\n    ")
	}
	return msg
}

func (e *ServiceError) Unwrap() error { return e.Err }

// ErrGPU is wrapped when the engine cannot give a container the GPU it
// asks for (no NVIDIA runtime / Container Toolkit).
var ErrGPU = errors.New("the Docker engine cannot provide an NVIDIA GPU")

// healthPoll is how often Up asks the engine about a container's health.
const healthPoll = 150 * time.Millisecond

// logLinesOnFailure is how much of a failed service's output Up shows.
const logLinesOnFailure = 20

// Up brings the stack to containers (in dependency order, as Convert
// returns them): it creates the network and volumes it needs, keeps every
// running container whose config hash matches, (re)creates the others,
// copies their config files in, starts each once its dependencies meet
// their depends_on conditions, and waits for every healthcheck. Images must
// be present (see Pull).
//
// On failure or cancellation it removes what this run created (containers,
// volumes, the network) and stops what it started, then returns the error;
// a *ServiceError names the service and carries its last log lines.
func (s *Stack) Up(ctx context.Context, containers []Container) (res UpResult, err error) {
	for _, c := range containers {
		if c.Labels[LabelProject] != s.project() {
			return res, fmt.Errorf("stack: service %s belongs to project %q, this stack manages %q", c.Service, c.Labels[LabelProject], s.project())
		}
	}
	if err := s.checkNames(ctx, containers); err != nil {
		return res, err
	}
	var rb rollback
	defer func() {
		if err == nil {
			return
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (interrupted)", err)
		}
		// The caller's context may be what failed: roll back on a fresh one.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := s.rollback(rctx, &rb); rerr != nil {
			err = fmt.Errorf("%w; rolling back also failed: %v", err, rerr)
		}
	}()

	created, err := s.ensureNetwork(ctx)
	if err != nil {
		return res, err
	}
	rb.network = created
	seen := map[string]bool{}
	for _, c := range containers {
		for _, m := range c.Volumes {
			if seen[m.Volume] {
				continue
			}
			seen[m.Volume] = true
			created, err := s.ensureVolume(ctx, m.Volume)
			if err != nil {
				return res, err
			}
			if created {
				rb.add(&rb.volumes, m.Volume)
			}
		}
	}

	// One goroutine per service; each waits for its dependencies' signals.
	type state struct {
		started, healthy, exited chan struct{}
		exitCode                 int
	}
	states := map[string]*state{}
	for _, c := range containers {
		states[c.Service] = &state{started: make(chan struct{}), healthy: make(chan struct{}), exited: make(chan struct{})}
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	var clock waitClock
	defer func() { res.HealthWait = clock.total }()
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel(err)
	}
	for _, c := range containers {
		wg.Add(1)
		go func(c Container) {
			defer wg.Done()
			st := states[c.Service]
			for _, d := range c.DependsOn {
				ds, ok := states[d.Service]
				if !ok {
					continue // not in this profile (Load checked required ones)
				}
				var ch chan struct{}
				switch d.Condition {
				case "service_healthy":
					ch = ds.healthy
				case "service_completed_successfully":
					ch = ds.exited
				default:
					ch = ds.started
				}
				select {
				case <-ch:
				case <-runCtx.Done():
					return
				}
				if d.Condition == "service_completed_successfully" && ds.exitCode != 0 {
					fail(&ServiceError{Service: c.Service, Reason: fmt.Sprintf("cannot start: %s exited with code %d", d.Service, ds.exitCode)})
					return
				}
			}
			id, action, err := s.ensureContainer(runCtx, c, &rb)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			switch action {
			case StepCreate:
				res.Created = append(res.Created, c.Service)
			case StepRecreate:
				res.Recreated = append(res.Recreated, c.Service)
			case StepStart:
				res.Started = append(res.Started, c.Service)
			case StepKeep:
				res.Kept = append(res.Kept, c.Service)
			}
			mu.Unlock()
			close(st.started)
			code, err := s.waitReady(runCtx, c, id, &clock)
			if err != nil {
				fail(err)
				return
			}
			if code >= 0 {
				st.exitCode = code
				close(st.exited)
			}
			close(st.healthy)
		}(c)
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("stack: interrupted: %w", err)
	}
	return res, nil
}

// checkNames refuses to go on when a container with a stack name exists
// but was not created by jan: removing it would destroy someone's work.
func (s *Stack) checkNames(ctx context.Context, containers []Container) error {
	for _, c := range containers {
		existing, ok, err := s.inspect(ctx, c.Name)
		if err != nil {
			return err
		}
		if ok && existing.Config != nil && existing.Config.Labels[LabelOwner] != "true" {
			return fmt.Errorf("stack: a container named %s exists and was not created by jan (rename or remove it: docker rm -f %s)", c.Name, c.Name)
		}
	}
	return nil
}

// ensureContainer makes c's container exist, configured as c, and running.
// It returns the container id and what it did (a Step* constant).
func (s *Stack) ensureContainer(ctx context.Context, c Container, rb *rollback) (string, string, error) {
	existing, ok, err := s.inspect(ctx, c.Name)
	if err != nil {
		return "", "", err
	}
	action := StepCreate
	if ok {
		same := existing.Config != nil && existing.Config.Labels[LabelConfigHash] == c.Labels[LabelConfigHash]
		if same && existing.State != nil && existing.State.Running {
			s.report(Event{Service: c.Service, Step: StepKeep})
			return existing.ID, StepKeep, nil
		}
		if same {
			s.report(Event{Service: c.Service, Step: StepStart})
			if _, err := s.cli.ContainerStart(ctx, existing.ID, client.ContainerStartOptions{}); err != nil {
				return "", "", s.startError(ctx, c, existing.ID, err)
			}
			rb.add(&rb.started, existing.ID+" "+c.Service)
			return existing.ID, StepStart, nil
		}
		action = StepRecreate
		s.report(Event{Service: c.Service, Step: StepRecreate})
		if _, err := s.cli.ContainerRemove(ctx, existing.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", "", fmt.Errorf("stack: remove the old %s container: %w", c.Service, err)
		}
	} else {
		s.report(Event{Service: c.Service, Step: StepCreate, Detail: c.Image})
	}

	opts, err := CreateOptions(c)
	if err != nil {
		return "", "", err
	}
	r, err := s.cli.ContainerCreate(ctx, opts)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", "", &ServiceError{Service: c.Service, Reason: fmt.Sprintf("cannot be created: image %s is not present (run jan up with --pull=missing, or set %s)", c.Image, ImageEnv(c.Service)), Err: err}
		}
		return "", "", &ServiceError{Service: c.Service, Reason: "cannot be created: " + err.Error(), Err: err}
	}
	rb.add(&rb.containers, r.ID+" "+c.Service)
	if len(c.Files) > 0 {
		archive, err := filesTar(c.Files)
		if err != nil {
			return "", "", fmt.Errorf("stack: service %s: pack config files: %w", c.Service, err)
		}
		if _, err := s.cli.CopyToContainer(ctx, r.ID, client.CopyToContainerOptions{DestinationPath: "/", Content: bytes.NewReader(archive)}); err != nil {
			return "", "", &ServiceError{Service: c.Service, Reason: "config files could not be copied in: " + err.Error(), Err: err}
		}
	}
	s.report(Event{Service: c.Service, Step: StepStart})
	if _, err := s.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return "", "", s.startError(ctx, c, r.ID, err)
	}
	return r.ID, action, nil
}

// startError explains a failed start; a GPU request the engine cannot
// serve becomes ErrGPU with the fix.
func (s *Stack) startError(ctx context.Context, c Container, id string, err error) error {
	if len(c.GPUs) > 0 && isGPUError(err) {
		return &ServiceError{Service: c.Service, Reason: "cannot start: " + firstLine(err.Error()) +
			" — install the NVIDIA Container Toolkit and restart Docker (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/), or use --gpu=none",
			Err: fmt.Errorf("%w: %v", ErrGPU, err)}
	}
	if IsPortInUse(err) {
		return &ServiceError{Service: c.Service, Reason: "cannot start: " + firstLine(err.Error()) + " — " + portFix(c), Err: err}
	}
	return &ServiceError{Service: c.Service, Reason: "cannot start: " + firstLine(err.Error()), Logs: s.lastLogs(ctx, id, logLinesOnFailure), Err: err}
}

// isGPUError recognises the engine's ways of saying it has no GPU driver.
func isGPUError(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "could not select device driver") ||
		strings.Contains(m, "nvidia-container-cli") ||
		strings.Contains(m, "unknown or invalid runtime name: nvidia") ||
		strings.Contains(m, "cdi device injection failed")
}

// IsPortInUse reports an engine or listen error about a taken port.
func IsPortInUse(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "address already in use") || strings.Contains(m, "port is already allocated")
}

func portFix(c Container) string {
	var fixes []string
	for _, p := range c.Ports {
		if ps, ok := PortSettingFor(c.Service, p.ContainerPort); ok {
			fixes = append(fixes, fmt.Sprintf("port %s: --publish %s=PORT or %s", p.HostPort, ps.Name, ps.Env))
		}
	}
	return "free it or choose another (" + strings.Join(fixes, "; ") + ")"
}

// waitReady waits until c's container is healthy (with a healthcheck) or
// running (without). A container that exits is a failure unless something
// waits for it to complete; then its exit code is returned (else -1).
func (s *Stack) waitReady(ctx context.Context, c Container, id string, clock *waitClock) (int, error) {
	budget := 30 * time.Second
	if c.Health != nil {
		budget = c.Health.Budget() + 10*time.Second
	}
	waiting := false // reported once, and only when not ready at once
	deadline := time.Now().Add(budget)
	tick := time.NewTicker(healthPoll)
	defer tick.Stop()
	for {
		r, err := s.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("stack: inspect %s: %w", c.Service, err)
		}
		st := r.Container.State
		switch {
		case st == nil:
		case st.Status == container.StateExited && st.ExitCode == 0 && c.Health == nil && (c.Restart == "" || c.Restart == "no"):
			return 0, nil // a one-shot job that completed
		case st.Status == container.StateExited || st.Status == container.StateDead:
			logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			logs := s.lastLogs(logCtx, id, logLinesOnFailure)
			cancel()
			return -1, &ServiceError{Service: c.Service, Reason: fmt.Sprintf("exited with code %d", st.ExitCode), Logs: logs}
		case c.Health == nil && st.Running:
			s.report(Event{Service: c.Service, Step: StepHealthy})
			return -1, nil
		case st.Health != nil && st.Health.Status == container.Healthy:
			s.report(Event{Service: c.Service, Step: StepHealthy})
			return -1, nil
		case st.Health != nil && st.Health.Status == container.Unhealthy:
			logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			logs := s.lastLogs(logCtx, id, logLinesOnFailure)
			cancel()
			return -1, &ServiceError{Service: c.Service, Reason: "is unhealthy: " + lastProbe(st.Health), Logs: logs}
		}
		if !waiting {
			waiting = true
			clock.enter()
			defer clock.leave()
			if c.Health != nil {
				s.report(Event{Service: c.Service, Step: StepWait, Detail: budget.Round(time.Second).String()})
			}
		}
		if time.Now().After(deadline) {
			logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			logs := s.lastLogs(logCtx, id, logLinesOnFailure)
			cancel()
			why := "did not become healthy within " + budget.Round(time.Second).String()
			if st != nil && st.Health != nil {
				why += " (" + lastProbe(st.Health) + ")"
			}
			return -1, &ServiceError{Service: c.Service, Reason: why, Logs: logs}
		}
		select {
		case <-ctx.Done():
			return -1, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// lastProbe summarises the newest healthcheck result.
func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return "no healthcheck result yet"
	}
	l := h.Log[len(h.Log)-1]
	out := firstLine(l.Output)
	if out == "" {
		out = "no output"
	}
	return fmt.Sprintf("last check exited %d: %s", l.ExitCode, out)
}

// rollback is what one Up created or started, to undo on failure.
type rollback struct {
	mu         sync.Mutex
	containers []string
	started    []string
	volumes    []string
	network    bool
}

func (rb *rollback) add(list *[]string, v string) {
	rb.mu.Lock()
	*list = append(*list, v)
	rb.mu.Unlock()
}

func (s *Stack) rollback(ctx context.Context, rb *rollback) error {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	var errs []error
	// containers and started hold "ID SERVICE".
	for _, entry := range rb.containers {
		id, svc, _ := strings.Cut(entry, " ")
		s.report(Event{Service: svc, Step: StepRollback, Detail: "container " + ContainerName(s.project(), svc)})
		if _, err := s.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, entry := range rb.started {
		id, svc, _ := strings.Cut(entry, " ")
		s.report(Event{Service: svc, Step: StepRollback, Detail: "stop " + ContainerName(s.project(), svc)})
		if _, err := s.cli.ContainerStop(ctx, id, client.ContainerStopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, v := range rb.volumes {
		s.report(Event{Step: StepRollback, Detail: "volume " + v})
		if _, err := s.cli.VolumeRemove(ctx, v, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if rb.network {
		s.report(Event{Step: StepRollback, Detail: "network " + NetworkName(s.project())})
		if _, err := s.cli.NetworkRemove(ctx, NetworkName(s.project()), client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
