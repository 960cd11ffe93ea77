package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/stack"
)

func newDownCmd() *cobra.Command {
	var volumes bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the stack: the background server and the containers",
		Long: `Stop what jan up started: the background llm-api server (jan up -d),
then the stack's containers and network. Volumes (the databases, the model
cache) are kept, so the next jan up finds its data; --volumes removes them
too. Only containers, networks and volumes jan created are touched.`,
		Example: `  jan down
  jan down --volumes   # also delete the databases and the model cache`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, cfg, err := dataDir(cmd.Flags())
			if err != nil {
				return err
			}
			st, err := openStack(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if s, ok, _ := loadState(dir); ok && processAlive(s.ServerPID) && s.ServerPID != os.Getpid() {
				fmt.Fprintf(out, "Stopping the llm-api server (pid %d)…\n", s.ServerPID)
				if err := stopProcess(s.ServerPID, cfg.ShutdownGrace+5*time.Second); err != nil {
					return err
				}
			}
			pr := newProgress(out)
			st.Report = pr.event
			res, err := st.Down(cmd.Context(), volumes)
			if err != nil {
				return err
			}
			_ = os.Remove(filepath.Join(dir, stateFile))
			switch {
			case len(res.Containers) == 0 && !res.Network && len(res.Volumes) == 0:
				fmt.Fprintln(out, "Nothing to stop: the stack is not up.")
			default:
				fmt.Fprintf(out, "Stopped: %d container(s) removed", len(res.Containers))
				if len(res.Volumes) > 0 {
					fmt.Fprintf(out, ", volumes %s removed", strings.Join(res.Volumes, ", "))
				}
				fmt.Fprintln(out, ".")
			}
			if !volumes {
				if vols, _ := st.Volumes(cmd.Context()); len(vols) > 0 {
					fmt.Fprintf(out, "Data kept in volumes %s (jan down --volumes removes them).\n", strings.Join(vols, ", "))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also remove the stack's volumes: databases and model cache")
	cmd.Flags().String("data-dir", "", "directory for jan's state (JAN_DATA_DIR)")
	return cmd
}

// stopProcess sends SIGTERM and waits for pid to exit, then SIGKILL.
func stopProcess(pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	deadline := time.Now().Add(grace)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// statusReport is jan status --json.
type statusReport struct {
	Engine   string                `json:"engine"`
	Profile  string                `json:"profile,omitempty"`
	Reason   string                `json:"reason,omitempty"`
	Model    string                `json:"model,omitempty"`
	Server   serverStatus          `json:"server"`
	Services []stack.ServiceStatus `json:"services"`
	URLs     map[string]string     `json:"urls,omitempty"`
}

type serverStatus struct {
	Addr  string `json:"addr"`
	PID   int    `json:"pid,omitempty"`
	Ready bool   `json:"ready"`
}

func newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the stack: services, health, ports, images, profile, URLs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, cfg, err := dataDir(cmd.Flags())
			if err != nil {
				return err
			}
			st, err := openStack(cmd.Context())
			if err != nil {
				return err
			}
			services, err := st.Status(cmd.Context())
			if err != nil {
				return err
			}
			state, _, _ := loadState(dir)
			addr := cfg.Addr
			if state.ServerAddr != "" {
				addr = state.ServerAddr
			}
			rep := statusReport{Engine: st.Endpoint().Host, Profile: state.Profile, Reason: state.Reason, Model: state.Model,
				Server: serverStatus{Addr: addr, PID: state.ServerPID, Ready: ready(cmd.Context(), addr)}, Services: services}
			if state.ServerPID > 0 && !processAlive(state.ServerPID) {
				rep.Server.PID = 0
			}
			if len(state.URLs) > 0 {
				rep.URLs = map[string]string{}
				for _, u := range state.URLs {
					rep.URLs[u[0]] = u[1]
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			if len(services) == 0 {
				fmt.Fprintln(out, "The stack is not up (no jan containers). Start it with jan up.")
			} else {
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tPORTS\tIMAGE")
				for _, s := range services {
					health := s.Health
					if health == "" {
						health = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Service, s.State, health, strings.Join(s.Ports, ","), s.Image)
				}
				srv := "not running"
				if rep.Server.Ready {
					srv = "ready"
				}
				switch {
				case rep.Server.PID > 0 && state.Foreground:
					srv += fmt.Sprintf(" (jan up in a terminal, pid %d)", rep.Server.PID)
				case rep.Server.PID > 0:
					srv += fmt.Sprintf(" (background, pid %d)", rep.Server.PID)
				}
				fmt.Fprintf(tw, "llm-api\t%s\t\t%s\t(jan)\n", srv, rep.Server.Addr)
				tw.Flush()
			}
			if state.Profile != "" {
				fmt.Fprintf(out, "\nProfile: %s — %s\n", state.Profile, state.Reason)
				if state.Model != "" {
					fmt.Fprintf(out, "Model:   %s\n", state.Model)
				}
				for _, u := range state.URLs {
					fmt.Fprintf(out, "  %-16s %s\n", u[0], u[1])
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().String("data-dir", "", "directory for jan's state (JAN_DATA_DIR)")
	return cmd
}

// ready says whether the llm-api server at addr answers /readyz.
func ready(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+config.Dialable(addr)+"/readyz", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

const serverService = "llm-api"

func newLogsCmd() *cobra.Command {
	var opts stack.LogOptions
	cmd := &cobra.Command{
		Use:   "logs [service]",
		Short: "Show the logs of a service, or of all of them",
		Long: `Show the output of one of the stack's services (api-db, keycloak-db,
keycloak, kong, otel-collector, vllm-llama / vllm-cpu) or of the llm-api
server (llm-api, from the data dir's server.log). Without a service, every
one's, each line prefixed with its name.`,
		Example: `  jan logs keycloak --tail 50
  jan logs llm-api -f
  jan logs --since 10m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _, err := dataDir(cmd.Flags())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(args) == 1 && args[0] == serverService {
				return serverLogs(cmd.Context(), filepath.Join(dir, serverLogFile), opts, out)
			}
			st, err := openStack(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) == 1 {
				if !knownService(args[0]) {
					return fmt.Errorf("no service %q (services: %s, %s)", args[0], strings.Join(allServices, ", "), serverService)
				}
				return st.Logs(cmd.Context(), args[0], opts, out, cmd.ErrOrStderr())
			}
			services, err := st.Status(cmd.Context())
			if err != nil {
				return err
			}
			var mu sync.Mutex
			var wg sync.WaitGroup
			errs := make(chan error, len(services)+1)
			width := len(serverService)
			for _, s := range services {
				width = max(width, len(s.Service))
			}
			for _, s := range services {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w := &prefixWriter{mu: &mu, w: out, prefix: fmt.Sprintf("%-*s | ", width, s.Service)}
					if err := st.Logs(cmd.Context(), s.Service, opts, w, w); err != nil {
						errs <- err
					}
					w.flush()
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := &prefixWriter{mu: &mu, w: out, prefix: fmt.Sprintf("%-*s | ", width, serverService)}
				_ = serverLogs(cmd.Context(), filepath.Join(dir, serverLogFile), opts, w)
				w.flush()
			}()
			wg.Wait()
			close(errs)
			return <-errs
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new output")
	cmd.Flags().StringVar(&opts.Since, "since", "", "only output since a duration ago (10m) or a timestamp")
	cmd.Flags().StringVarP(&opts.Tail, "tail", "n", "all", "number of lines from the end to show")
	cmd.Flags().String("data-dir", "", "directory for jan's state (JAN_DATA_DIR)")
	return cmd
}

// prefixWriter writes whole lines, each with a prefix, under a shared lock.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.mu.Unlock()
		p.buf = nil
	}
}

// serverLogs prints the server's log file: --tail lines, then (with -f)
// what is appended. --since filters JSON lines by their time field.
func serverLogs(ctx context.Context, path string, opts stack.LogOptions, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("no server log at %s yet (jan up writes it)", path)
		}
		return err
	}
	defer f.Close()
	var since time.Time
	if d, err := time.ParseDuration(opts.Since); err == nil {
		since = time.Now().Add(-d)
	} else if t, err := time.Parse(time.RFC3339, opts.Since); err == nil {
		since = t
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !since.IsZero() && logLineBefore(sc.Text(), since) {
			continue
		}
		lines = append(lines, sc.Text())
	}
	if n, err := parsePort(opts.Tail); err == nil && opts.Tail != "all" && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if !opts.Follow {
		return nil
	}
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err == nil {
			fmt.Fprint(w, partial)
			partial = ""
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logLineBefore reads a JSON log line's "time" and says if it is before t.
func logLineBefore(line string, t time.Time) bool {
	var rec struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Time.IsZero() {
		return false
	}
	return rec.Time.Before(t)
}

func newDoctorCmd() *cobra.Command {
	var so stackOptions
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check everything jan up needs, with a fix for each problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return err
			}
			mode, err := stack.ParseGPUMode(so.gpu)
			if err != nil {
				return err
			}
			d := &doctor{w: cmd.OutOrStdout()}
			runDoctor(cmd.Context(), d, cfg, so, mode)
			if d.failed > 0 {
				fmt.Fprintf(d.w, "\n%d problem(s) found.\n", d.failed)
				return &exitError{code: 1}
			}
			fmt.Fprintln(d.w, "\nAll checks passed.")
			return nil
		},
	}
	so.register(cmd.Flags())
	config.RegisterServeFlags(cmd.Flags())
	return cmd
}

type doctor struct {
	w      io.Writer
	failed int
}

func (d *doctor) ok(what, detail string) { fmt.Fprintf(d.w, "✓ %s: %s\n", what, detail) }
func (d *doctor) warn(what, detail, fix string) {
	fmt.Fprintf(d.w, "! %s: %s\n    fix: %s\n", what, detail, fix)
}
func (d *doctor) fail(what, detail, fix string) {
	d.failed++
	fmt.Fprintf(d.w, "✗ %s: %s\n    fix: %s\n", what, detail, fix)
}

func runDoctor(ctx context.Context, d *doctor, cfg config.Config, so stackOptions, mode stack.GPUMode) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		d.fail("data dir", err.Error(), "set --data-dir or JAN_DATA_DIR to a writable directory")
	} else {
		d.ok("data dir", cfg.DataDir)
	}
	env, err := so.env()
	if err != nil {
		d.fail("settings", err.Error(), "correct the flag or .env")
		return
	}
	ep, err := stack.DiscoverEngine(stack.EngineHost{})
	if err != nil {
		d.fail("Docker engine", err.Error(), "install and start Docker (or set DOCKER_HOST); without Docker use jan up --embedded")
		return
	}
	st, err := openStack(ctx)
	if err != nil {
		d.fail("Docker engine", err.Error(), "start Docker (systemctl start docker / open Docker Desktop), or jan up --embedded")
		return
	}
	info, err := st.Info(ctx)
	if err != nil {
		d.fail("Docker engine", err.Error(), "check the engine's logs")
		return
	}
	d.ok("Docker engine", fmt.Sprintf("%s at %s (%s)", info.Version, ep.Host, ep.Source))

	choice := stack.DetectHardware(ctx, mode, stack.Host{})
	switch {
	case choice.Profile == stack.ProfileGPU && !info.NVIDIA:
		d.warn("hardware", choice.Reason+"; the engine lists no nvidia runtime",
			"install the NVIDIA Container Toolkit and restart Docker (jan up probes the GPU and falls back to CPU with --gpu=auto)")
	default:
		d.ok("hardware", choice.Reason)
	}

	plan, err := stack.NewPlan(ctx, stack.Settings{DataDir: cfg.DataDir, Env: env, Profile: choice.Profile, ServerAddr: cfg.Addr})
	if err != nil {
		d.fail("stack configuration", err.Error(), "correct the setting it names (.env, JAN_* variables, --image/--publish)")
		return
	}
	d.ok("stack configuration", fmt.Sprintf("%s profile, %d services", plan.Profile, len(plan.Containers)))
	if fi, err := os.Stat(plan.Secrets.Path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		d.fail("secrets", plan.Secrets.Path+" is readable by others", "chmod 600 "+plan.Secrets.Path)
	} else {
		d.ok("secrets", plan.Secrets.Path+" (0600)")
	}

	own := []stack.HostPort{{Service: "llm-api", Addr: cfg.Addr, Fix: "--addr or JAN_ADDR"}}
	if state, _, _ := loadState(cfg.DataDir); processAlive(state.ServerPID) {
		own = nil
		d.ok("llm-api", fmt.Sprintf("running (pid %d, http://%s)", state.ServerPID, state.ServerAddr))
	}
	if err := st.CheckPorts(ctx, plan.Containers, own); err != nil {
		if pe, ok := err.(stack.PortsError); ok {
			for _, c := range pe {
				d.fail("port "+c.Port, fmt.Sprintf("needed by %s, taken by %s", c.Service, c.Owner), "stop it, or move jan's with "+c.Fix)
			}
		} else {
			d.fail("ports", err.Error(), "check the engine")
		}
	} else {
		d.ok("ports", "every published port is free (or already jan's)")
	}

	missing, err := st.MissingImages(ctx, plan.Containers)
	if err != nil {
		d.fail("images", err.Error(), "check the engine")
	} else if len(missing) > 0 {
		for img, svcs := range missing {
			d.warn("image "+img, "not present (service "+strings.Join(svcs, ", ")+")", "jan up pulls it (--pull=missing), or set "+stack.ImageEnv(svcs[0])+" to an image you have")
		}
	} else {
		d.ok("images", "all present")
	}
	if free, ok := stack.DiskFree(info.RootDir); ok {
		if free < 10<<30 && len(missing) > 0 {
			d.warn("disk", humanBytes(int64(free))+" free under "+info.RootDir, "free some space: the images and the model need several GB")
		} else {
			d.ok("disk", humanBytes(int64(free))+" free under "+info.RootDir)
		}
	}

	services, err := st.Status(ctx)
	if err == nil && len(services) > 0 {
		for _, s := range services {
			switch {
			case s.State != "running":
				d.fail("service "+s.Service, s.Status, "jan up (or jan logs "+s.Service+")")
			case s.Health == "unhealthy":
				d.fail("service "+s.Service, "unhealthy", "jan logs "+s.Service)
			default:
				d.ok("service "+s.Service, s.Status)
			}
		}
	}
}
