package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/server"
	"github.com/janhq/jan/internal/stack"
)

func newUpCmd() *cobra.Command {
	var (
		embedded, detach, fallback bool
		so                         stackOptions
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start jan: the Docker stack and the llm-api server (or --embedded)",
		Long: `Start jan.

With Docker, jan up runs the whole stack through the Docker Engine API:
Postgres for the API and for Keycloak, Keycloak with the jan realm, Kong
(the gateway on :8000), an OpenTelemetry collector and vLLM (GPU profile on
an NVIDIA GPU, CPU profile otherwise), each started in dependency order
and waited on by its healthcheck. Then the llm-api server runs in this
process on :8080, wired to the stack's Postgres, Keycloak and vLLM. Ctrl+C
stops the server; the containers keep running (jan down stops them). With
-d the server runs in the background (pid and log in the data dir).

Running jan up again is safe: running containers whose configuration is
unchanged are left alone, changed ones are recreated. If a service fails,
jan up shows its last log lines and removes what that run created.

Generated secrets (database passwords, Keycloak admin, client secret,
vLLM key, gateway secret) live in the data dir (stack-secrets.env, 0600);
the seed's .env names override them. Images and ports are settings:
JAN_IMAGE_<SERVICE> / --image, JAN_<NAME>_PORT / --publish.

With --embedded, jan runs only the llm-api server on embedded defaults: a
SQLite database in the data dir, the built-in identity issuer, and the
models of providers.yaml plus any local OpenAI-compatible engine it finds
(Ollama, LM Studio, Jan, vLLM) or --engine URLs.`,
		Example: `  jan up                       # the Docker stack, GPU if there is one
  jan up -d --gpu=none         # CPU profile, server in the background
  jan up --pull=never --image kong=registry.local/kong:3.9.1
  jan up --publish gateway=9000
  jan up --embedded            # no Docker: SQLite and built-in identity`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return err
			}
			if !fallback {
				fallback = os.Getenv("JAN_FALLBACK_EMBEDDED") == "true"
			}
			if embedded {
				return runEmbedded(cmd, cfg)
			}
			pull, err := stack.ParsePullPolicy(mustFlag(cmd, "pull"))
			if err != nil {
				return err
			}
			mode, err := stack.ParseGPUMode(so.gpu)
			if err != nil {
				return err
			}
			env, err := so.env()
			if err != nil {
				return err
			}
			st, err := openStack(cmd.Context())
			if err != nil {
				if fallback {
					cmd.PrintErrf("%v\nStarting on embedded defaults instead (JAN_FALLBACK_EMBEDDED / --fallback-embedded).\n", err)
					return runEmbedded(cmd, cfg)
				}
				return err
			}
			return runStack(cmd, cfg, st, upRequest{env: env, mode: mode, pull: pull, detach: detach})
		},
	}
	cmd.Flags().BoolVar(&embedded, "embedded", false, "run on embedded defaults: SQLite, built-in identity, local engines (no Docker)")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run the llm-api server in the background (pid and log file in the data dir)")
	cmd.Flags().BoolVar(&fallback, "fallback-embedded", false, "without a Docker engine, run --embedded instead of failing (JAN_FALLBACK_EMBEDDED=true)")
	cmd.Flags().String("pull", "missing", "pull images: `missing`, always or never")
	so.register(cmd.Flags())
	config.RegisterServeFlags(cmd.Flags())
	return cmd
}

func mustFlag(cmd *cobra.Command, name string) string {
	v, _ := cmd.Flags().GetString(name)
	return v
}

func runEmbedded(cmd *cobra.Command, cfg config.Config) error {
	recordServer(cfg.PublicURL)
	return server.Run(cmd.Context(), cfg, newLogger(cfg, os.Stderr), cmd.OutOrStdout())
}

type upRequest struct {
	env    map[string]string
	mode   stack.GPUMode
	pull   stack.PullPolicy
	detach bool
}

// runStack is jan up with Docker: plan, preflight, pull, up, then the
// server in this process or (-d) in the background.
func runStack(cmd *cobra.Command, cfg config.Config, st *stack.Stack, req upRequest) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	began := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w (set --data-dir or JAN_DATA_DIR)", cfg.DataDir, err)
	}
	// A background server from an earlier jan up -d keeps running: this run
	// only brings the containers in line.
	prev, _, _ := loadState(cfg.DataDir)
	running := 0
	if processAlive(prev.ServerPID) {
		running = prev.ServerPID
	}

	choice := stack.DetectHardware(ctx, req.mode, stack.Host{})
	info, _ := st.Info(ctx)
	if choice.Profile == stack.ProfileGPU && !info.NVIDIA && req.mode == stack.GPUAuto {
		choice.Reason += " (the engine lists no nvidia runtime: a probe container decides)"
	}
	fmt.Fprintf(out, "Docker engine %s at %s (%s)\n", info.Version, st.Endpoint().Host, st.Endpoint().Source)
	fmt.Fprintf(out, "Hardware: %s\n", choice.Reason)

	plan, err := stack.NewPlan(ctx, stack.Settings{DataDir: cfg.DataDir, Env: req.env, Profile: choice.Profile, ServerAddr: cfg.Addr})
	if err != nil {
		return err
	}
	var own []stack.HostPort
	if running == 0 {
		own = append(own, stack.HostPort{Service: "llm-api", Addr: cfg.Addr, Fix: "--addr or JAN_ADDR"})
	}
	if err := st.CheckPorts(ctx, plan.Containers, own); err != nil {
		return fmt.Errorf("ports:\n%w", err)
	}
	pr := newProgress(out)
	st.Report = pr.event
	if err := pullFor(ctx, st, plan, req.pull, info, pr); err != nil {
		return err
	}

	if plan.Profile == stack.ProfileGPU && req.mode == stack.GPUAuto {
		if err := st.ProbeGPU(ctx, mustImage(plan)); err != nil {
			if !errors.Is(err, stack.ErrGPU) {
				return err
			}
			fmt.Fprintf(out, "GPU probe: %v\nFalling back to the CPU profile (--gpu=auto).\n", err)
			if plan, err = cpuPlan(ctx, cfg, req, st, pr); err != nil {
				return err
			}
			choice.Profile, choice.Reason = stack.ProfileCPU, choice.Reason+"; the GPU probe failed → CPU profile"
		}
	}

	fmt.Fprintf(out, "Starting the %s stack…\n", plan.Profile)
	res, err := st.Up(ctx, plan.Containers)
	if err != nil && errors.Is(err, stack.ErrGPU) && req.mode == stack.GPUAuto {
		fmt.Fprintf(out, "%v\nFalling back to the CPU profile (--gpu=auto).\n", err)
		if plan, err = cpuPlan(ctx, cfg, req, st, pr); err != nil {
			return err
		}
		choice.Profile, choice.Reason = stack.ProfileCPU, choice.Reason+"; the GPU could not be used → CPU profile"
		res, err = st.Up(ctx, plan.Containers)
	}
	if err != nil {
		return fmt.Errorf("jan up failed: %w\nNothing this run created was left behind. jan doctor checks the setup", err)
	}
	fmt.Fprintf(out, "Containers ready in %s (%s; %s of it waiting on healthchecks).\n",
		time.Since(began).Round(100*time.Millisecond), summarize(res), res.HealthWait.Round(100*time.Millisecond))

	providers, err := plan.WriteProviders(cfg.DataDir)
	if err != nil {
		return err
	}
	env := plan.ServerEnv(providers)
	var extra []string
	if isLoopback(cfg.Addr) {
		if gw := bridgeGateway(ctx, st); gw != "" {
			extra = append(extra, net.JoinHostPort(gw, portOf(cfg.Addr)))
		}
	}
	state := stackState{Profile: string(plan.Profile), Reason: choice.Reason, Model: plan.Model, ServerAddr: cfg.Addr,
		StartedAt: time.Now().UTC(), URLs: plan.URLs(), ServerConfig: envDigest(env, extra)}
	changed := prev.ServerConfig != state.ServerConfig
	if running != 0 && changed && !prev.Foreground {
		fmt.Fprintf(out, "The server's settings changed: restarting it (pid %d)…\n", running)
		if err := stopProcess(running, cfg.ShutdownGrace+5*time.Second); err != nil {
			return err
		}
		running = 0
		req.detach = true
	}
	if running != 0 {
		state.ServerPID, state.Foreground, state.ServerAddr, state.StartedAt = running, prev.Foreground, prev.ServerAddr, prev.StartedAt
		state.ServerConfig = prev.ServerConfig
		if err := saveState(cfg.DataDir, state); err != nil {
			return err
		}
		printSummary(out, plan, running, prev.Foreground)
		switch {
		case changed:
			fmt.Fprintf(out, "The server running in a terminal (pid %d) has the old settings: stop it there (Ctrl+C) and run jan up again.\n", running)
		default:
			fmt.Fprintln(out, "The server was already running and was left as it is.")
		}
		return nil
	}
	if req.detach {
		pid, err := startDetached(cmd, cfg, env, extra)
		if err != nil {
			return err
		}
		state.ServerPID = pid
		if err := saveState(cfg.DataDir, state); err != nil {
			return err
		}
		recordServer("http://" + config.Dialable(cfg.Addr))
		printSummary(out, plan, pid, false)
		fmt.Fprintf(out, "Up in %s (%s of it waiting on healthchecks).\n",
			time.Since(began).Round(10*time.Millisecond), res.HealthWait.Round(10*time.Millisecond))
		return nil
	}

	// In this process: the stack's settings, unless the user set them.
	cfg, err = config.Load(cmd.Flags(), config.Over(os.Getenv, env))
	if err != nil {
		return err
	}
	cfg.ExtraAddrs = append(cfg.ExtraAddrs, extra...)
	state.ServerPID, state.Foreground = os.Getpid(), true
	if err := saveState(cfg.DataDir, state); err != nil {
		return err
	}
	recordServer(cfg.PublicURL)
	printSummary(out, plan, 0, true)
	logFile, err := os.OpenFile(filepath.Join(cfg.DataDir, serverLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cfg.LogFormat == "" && isTTY(os.Stderr) {
		cfg.LogFormat = "text" // what the terminal shows; server.log gets the same lines
	}
	err = server.Run(ctx, cfg, newLogger(cfg, io.MultiWriter(os.Stderr, logFile)), out)
	fmt.Fprintln(out, "The server stopped; this does not touch the containers (jan up restarts the server in about a second, jan down removes them).")
	return err
}

// envDigest identifies the server's settings, so a re-run can tell
// whether the background server must restart. Secrets enter as a digest.
func envDigest(env map[string]string, extra []string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, env[k])
	}
	fmt.Fprintf(h, "extra=%s\n", strings.Join(extra, ","))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// cpuPlan is the fallback when the GPU profile cannot run.
func cpuPlan(ctx context.Context, cfg config.Config, req upRequest, st *stack.Stack, pr *progress) (*stack.Plan, error) {
	plan, err := stack.NewPlan(ctx, stack.Settings{DataDir: cfg.DataDir, Env: req.env, Profile: stack.ProfileCPU, ServerAddr: cfg.Addr})
	if err != nil {
		return nil, err
	}
	info, _ := st.Info(ctx)
	if err := pullFor(ctx, st, plan, req.pull, info, pr); err != nil {
		return nil, err
	}
	return plan, nil
}

// pullFor pulls what plan needs under policy, warning first when the
// engine's disk is short.
func pullFor(ctx context.Context, st *stack.Stack, plan *stack.Plan, policy stack.PullPolicy, info stack.EngineInfo, pr *progress) error {
	want, err := st.ImagesToPull(ctx, plan.Containers, policy)
	if err != nil || len(want) == 0 {
		return err
	}
	if free, ok := stack.DiskFree(info.RootDir); ok && free < 10<<30 {
		fmt.Fprintf(pr.w, "Warning: %s free under %s; the images need several GB.\n", humanBytes(int64(free)), info.RootDir)
	}
	defer pr.endPull()
	return st.Pull(ctx, want)
}

func mustImage(p *stack.Plan) string {
	c, _ := p.Container(p.VLLMService())
	return c.Image
}

func summarize(r stack.UpResult) string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(r.Created), "created")
	add(len(r.Recreated), "recreated")
	add(len(r.Started), "started")
	add(len(r.Kept), "unchanged")
	return strings.Join(parts, ", ")
}

func printSummary(w io.Writer, p *stack.Plan, pid int, foreground bool) {
	fmt.Fprintln(w)
	for _, u := range p.URLs() {
		fmt.Fprintf(w, "  %-16s %s\n", u[0], u[1])
	}
	fmt.Fprintf(w, "  %-16s %s\n", "Model", p.Model)
	fmt.Fprintf(w, "  %-16s %s (Keycloak admin password: KEYCLOAK_ADMIN_PASSWORD)\n", "Secrets", p.Secrets.Path)
	fmt.Fprintln(w)
	if pid > 0 && !foreground {
		fmt.Fprintf(w, "The llm-api server runs in the background (pid %d); jan logs llm-api shows its log, jan down stops everything.\n", pid)
	}
	fmt.Fprintln(w, "Next: jan guest   (a token)   ·   jan chat   (chat in the terminal)   ·   jan status")
}

// startDetached runs `jan serve` in the background with the stack's
// environment, its output in the data dir's server.log, and waits until it
// answers /readyz.
func startDetached(cmd *cobra.Command, cfg config.Config, env map[string]string, extra []string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	logPath := filepath.Join(cfg.DataDir, serverLogFile)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	args := []string{"serve", "--addr", cfg.Addr, "--data-dir", cfg.DataDir}
	// The serve flags given to jan up reach the background server too.
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "db", "providers", "no-detect", "issuer":
			args = append(args, "--"+f.Name+"="+f.Value.String())
		case "engine":
			urls, _ := cmd.Flags().GetStringSlice("engine")
			args = append(args, "--engine="+strings.Join(urls, ","))
		}
	})
	child := exec.Command(self, args...)
	child.Env = os.Environ()
	for k, v := range env {
		if os.Getenv(k) == "" {
			child.Env = append(child.Env, k+"="+v)
		}
	}
	if len(extra) > 0 {
		child.Env = append(child.Env, "JAN_EXTRA_ADDRS="+strings.Join(extra, ","))
	}
	child.Stdout, child.Stderr = logFile, logFile
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return 0, fmt.Errorf("start the background server: %w", err)
	}
	pid := child.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	url := "http://" + config.Dialable(cfg.Addr) + "/readyz"
	deadline := time.Now().Add(cfg.IdentityWait + 30*time.Second)
	for {
		select {
		case err := <-exited:
			return 0, fmt.Errorf("the background server exited (%v); its log %s ends:\n%s", err, logPath, tailFile(logPath, 15))
		case <-cmd.Context().Done():
			_ = child.Process.Signal(syscall.SIGTERM)
			return 0, cmd.Context().Err()
		case <-time.After(50 * time.Millisecond):
		}
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				_ = child.Process.Release()
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			_ = child.Process.Signal(syscall.SIGTERM)
			return 0, fmt.Errorf("the background server did not become ready; its log %s ends:\n%s", logPath, tailFile(logPath, 15))
		}
	}
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// progress prints the stack's events: a line per step, and on a terminal
// one redrawn line for the pulls.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	pulls   map[string]pullState
	order   []string // images in the order their pulls began
	drawn   int      // bar lines on screen
	drawnAt time.Time
	started map[string]time.Time
	kept    map[string]bool
}

type pullState struct {
	cur, total int64
	done       bool
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTTY(w), pulls: map[string]pullState{}, started: map[string]time.Time{}, kept: map[string]bool{}}
}

func (p *progress) event(e stack.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Step {
	case stack.StepPull, stack.StepPulled:
		st, seen := p.pulls[e.Detail]
		if !seen {
			p.order = append(p.order, e.Detail)
		}
		if e.Step == stack.StepPulled {
			st.done = true
		} else if e.Total > 0 {
			st.cur, st.total = e.Current, e.Total
		}
		p.pulls[e.Detail] = st
		if !p.tty {
			switch {
			case !seen:
				fmt.Fprintf(p.w, "  pulling %s\n", e.Detail)
			case st.done:
				fmt.Fprintf(p.w, "  pulled %s\n", e.Detail)
			}
			return
		}
		if !st.done && time.Since(p.drawnAt) < 100*time.Millisecond {
			return
		}
		p.drawPulls()
	case stack.StepCreate:
		p.started[e.Service] = time.Now()
		fmt.Fprintf(p.w, "  %-15s creating (%s)\n", e.Service, e.Detail)
	case stack.StepRecreate:
		p.started[e.Service] = time.Now()
		fmt.Fprintf(p.w, "  %-15s configuration changed: recreating\n", e.Service)
	case stack.StepStart:
		if _, ok := p.started[e.Service]; !ok {
			p.started[e.Service] = time.Now()
			fmt.Fprintf(p.w, "  %-15s starting\n", e.Service)
		}
	case stack.StepKeep:
		p.started[e.Service] = time.Now()
		p.kept[e.Service] = true
		fmt.Fprintf(p.w, "  %-15s running, unchanged\n", e.Service)
	case stack.StepWait:
		delete(p.kept, e.Service)
		fmt.Fprintf(p.w, "  %-15s waiting for its healthcheck (up to %s)\n", e.Service, e.Detail)
	case stack.StepHealthy:
		if p.kept[e.Service] {
			return // running, unchanged and healthy: said already
		}
		fmt.Fprintf(p.w, "  %-15s ready (%s)\n", e.Service, time.Since(p.started[e.Service]).Round(100*time.Millisecond))
	case stack.StepRollback:
		if what, ok := strings.CutPrefix(e.Detail, "stop "); ok {
			fmt.Fprintf(p.w, "  rolling back: stopping %s\n", what)
		} else {
			fmt.Fprintf(p.w, "  rolling back: removing %s\n", e.Detail)
		}
	case stack.StepRemove:
		if e.Service != "" {
			fmt.Fprintf(p.w, "  %-15s removing\n", e.Service)
		} else {
			fmt.Fprintf(p.w, "  removing %s\n", e.Detail)
		}
	}
}

// drawPulls redraws one bar per image in place (a terminal only).
func (p *progress) drawPulls() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\033[%dA", p.drawn)
	}
	width := 0
	for _, img := range p.order {
		width = max(width, len(img))
	}
	for _, img := range p.order {
		st := p.pulls[img]
		fmt.Fprintf(p.w, "\r\033[K  %-*s  ", width, img)
		switch {
		case st.done:
			fmt.Fprintln(p.w, "pulled")
		case st.total == 0:
			fmt.Fprintln(p.w, "waiting")
		default:
			const bar = 24
			n := int(float64(bar) * float64(st.cur) / float64(st.total))
			n = min(max(n, 0), bar)
			fmt.Fprintf(p.w, "[%s%s] %3d%%  %s / %s\n", strings.Repeat("█", n), strings.Repeat("░", bar-n),
				100*st.cur/st.total, humanBytes(st.cur), humanBytes(st.total))
		}
	}
	p.drawn, p.drawnAt = len(p.order), time.Now()
}

func (p *progress) endPull() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && len(p.order) > 0 {
		p.drawPulls()
	}
	p.pulls, p.order, p.drawn = map[string]pullState{}, nil, 0
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGTPE"[exp])
}

// recordServer remembers the URL jan up serves on, so jan chat, jan guest and
// jan models find it without --server. A failure only costs that default.
func recordServer(url string) {
	path, err := client.ConfigPath(nil)
	if err != nil {
		return
	}
	c, err := client.LoadConfig(path)
	if err != nil {
		return
	}
	if c.Server == client.NormalizeURL(url) {
		return
	}
	c.Server = client.NormalizeURL(url)
	_ = c.Save(path)
}
