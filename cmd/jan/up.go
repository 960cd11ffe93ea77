package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/proc"
	"github.com/janhq/jan/internal/progress"
	"github.com/janhq/jan/internal/stack"
)

type upOptions struct {
	IO                         *ioStreams
	Stack                      stackOptions
	Embedded, Detach, Fallback bool
	DryRun, JSON               bool
	Pull                       string
	Flags                      *pflag.FlagSet // the serve flags: the server's settings, passed on to a background one
}

func newUpCmd() *cobra.Command {
	o := &upOptions{IO: systemIO()}
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

What you already have is used instead of what jan would start:
--inference=auto (the default) uses an engine that already runs — --engine
URL, or Ollama, LM Studio, Jan or vLLM on its usual port — rather than vLLM
on the CPU (--inference=external insists on one, --inference=vllm always
runs the stack's vLLM); --issuer URL trusts your OIDC provider and runs no
Keycloak; --without kong or otel-collector leaves those out. jan up
--dry-run shows the plan and why, without starting or writing anything.

Running jan up again is safe: running containers whose configuration is
unchanged are left alone, changed ones are recreated, and services the new
plan does not run are removed (their volumes stay). If a service fails,
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
  jan up --embedded            # no Docker: SQLite and built-in identity
  jan up --inference=external --engine http://127.0.0.1:11434   # Ollama instead of vLLM
  jan up --issuer https://login.example.com/realms/acme --without otel-collector
  jan up --dry-run             # the plan: services, images, ports, choices and why
  jan up --dry-run --json | jq .services`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = cmd.Flags()
			return runUp(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Embedded, "embedded", false, "run on embedded defaults: SQLite, built-in identity, local engines (no Docker)")
	cmd.Flags().BoolVarP(&o.Detach, "detach", "d", false, "run the llm-api server in the background (pid and log file in the data dir)")
	cmd.Flags().BoolVar(&o.Fallback, "fallback-embedded", false, "without a Docker engine, run --embedded instead of failing (JAN_FALLBACK_EMBEDDED=true)")
	cmd.Flags().StringVar(&o.Pull, "pull", "missing", "pull images: `missing`, always or never")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "show what jan up would run and why, start and write nothing (works without Docker)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "with --dry-run: the plan as JSON")
	o.Stack.register(cmd.Flags())
	config.RegisterServeFlags(cmd.Flags())
	return cmd
}

func runUp(ctx context.Context, o *upOptions) error {
	cfg, err := config.Load(o.Flags, o.IO.Getenv)
	if err != nil {
		return err
	}
	switch {
	case o.JSON && !o.DryRun:
		return fmt.Errorf("--json goes with --dry-run (jan up --dry-run --json)")
	case o.DryRun && o.Embedded:
		return fmt.Errorf("--dry-run shows the Docker stack's plan; --embedded starts no containers (jan serve --help lists its settings)")
	}
	if o.Embedded {
		client.RememberServer(o.IO.Getenv, cfg.PublicURL)
		return runServer(ctx, o.IO, cfg, o.IO.ErrOut)
	}
	pull, err := stack.ParsePullPolicy(o.Pull)
	if err != nil {
		return err
	}
	mode, inf, without, err := o.Stack.choices(o.IO.Getenv)
	if err != nil {
		return err
	}
	env, err := o.Stack.env()
	if err != nil {
		return err
	}
	req := stack.LaunchRequest{DataDir: cfg.DataDir, Env: env, GPU: mode, Inference: inf, Engines: cfg.Engines,
		Fit: fitOf(cfg, without), Pull: pull, ServerAddr: cfg.Addr}
	if o.DryRun {
		return runDryRun(ctx, o, req)
	}
	st, err := stack.OpenStack(ctx, env)
	if err != nil {
		if o.Fallback || o.IO.Getenv("JAN_FALLBACK_EMBEDDED") == "true" {
			fmt.Fprintf(o.IO.ErrOut, "%v\nStarting on embedded defaults instead (JAN_FALLBACK_EMBEDDED / --fallback-embedded).\n", err)
			client.RememberServer(o.IO.Getenv, cfg.PublicURL)
			return runServer(ctx, o.IO, cfg, o.IO.ErrOut)
		}
		return err
	}
	return runStack(ctx, o, cfg, st, req)
}

// runStack is jan up with Docker: the stack up (stack.Launch), then the
// server — kept, restarted or started, in this process or (-d) in the
// background.
func runStack(ctx context.Context, o *upOptions, cfg config.Config, st *stack.Stack, req stack.LaunchRequest) error {
	out := o.IO.Out
	began := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w (set --data-dir or JAN_DATA_DIR)", cfg.DataDir, err)
	}
	prev, _, _ := stack.LoadState(cfg.DataDir)
	alive := proc.Alive(prev.ServerPID)
	req.ServerRunning = alive
	st.Report = progress.New(out, o.IO.OutTTY).Event
	l, err := st.Launch(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Containers ready in %s (%s; %s of it waiting on healthchecks).\n",
		time.Since(began).Round(100*time.Millisecond), l.Result.Summary(), l.Result.HealthWait.Round(100*time.Millisecond))

	providers, err := l.Plan.WriteProviders(cfg.DataDir)
	if err != nil {
		return err
	}
	env := l.Plan.ServerEnv(providers)
	extra := st.ServerListenAddrs(ctx, cfg.Addr)
	model := l.Plan.Model
	if model == "" && l.Engine != nil {
		model = strings.Join(l.Engine.Models, ", ")
	}
	state := stack.State{Profile: string(l.Plan.Profile), Reason: l.Choice.Reason, Model: model, ServerAddr: cfg.Addr,
		StartedAt: time.Now().UTC(), URLs: l.Plan.URLs(), ServerConfig: stack.SettingsDigest(env, extra)}
	detach := o.Detach
	switch stack.NextServer(prev, alive, state.ServerConfig) {
	case stack.KeepServer, stack.StaleServer:
		state.ServerPID, state.Foreground, state.ServerAddr, state.StartedAt = prev.ServerPID, prev.Foreground, prev.ServerAddr, prev.StartedAt
		stale := prev.ServerConfig != state.ServerConfig
		state.ServerConfig = prev.ServerConfig
		if err := stack.SaveState(cfg.DataDir, state); err != nil {
			return err
		}
		printSummary(out, l.Plan, prev.ServerPID, prev.Foreground)
		if stale {
			fmt.Fprintf(out, "The server running in a terminal (pid %d) has the old settings: stop it there (Ctrl+C) and run jan up again.\n", prev.ServerPID)
		} else {
			fmt.Fprintln(out, "The server was already running and was left as it is.")
		}
		return nil
	case stack.RestartServer:
		fmt.Fprintf(out, "The server's settings changed: restarting it (pid %d)…\n", prev.ServerPID)
		if err := proc.Stop(prev.ServerPID, cfg.ShutdownGrace+5*time.Second); err != nil {
			return err
		}
		detach = true
	}
	if detach {
		pid, err := startDetached(ctx, o, cfg, env, extra)
		if err != nil {
			return err
		}
		state.ServerPID = pid
		if err := stack.SaveState(cfg.DataDir, state); err != nil {
			return err
		}
		client.RememberServer(o.IO.Getenv, "http://"+config.Dialable(cfg.Addr))
		printSummary(out, l.Plan, pid, false)
		fmt.Fprintf(out, "Up in %s (%s of it waiting on healthchecks).\n",
			time.Since(began).Round(10*time.Millisecond), l.Result.HealthWait.Round(10*time.Millisecond))
		return nil
	}

	// In this process: the stack's settings, unless the user set them.
	cfg, err = config.Load(o.Flags, config.Over(o.IO.Getenv, env))
	if err != nil {
		return err
	}
	cfg.ExtraAddrs = append(cfg.ExtraAddrs, extra...)
	state.ServerPID, state.Foreground = os.Getpid(), true
	if err := stack.SaveState(cfg.DataDir, state); err != nil {
		return err
	}
	client.RememberServer(o.IO.Getenv, cfg.PublicURL)
	printSummary(out, l.Plan, 0, true)
	logFile, err := os.OpenFile(filepath.Join(cfg.DataDir, stack.ServerLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cfg.LogFormat == "" && o.IO.ErrTTY {
		cfg.LogFormat = "text" // what the terminal shows; server.log gets the same lines
	}
	err = runServer(ctx, o.IO, cfg, io.MultiWriter(o.IO.ErrOut, logFile))
	fmt.Fprintln(out, "The server stopped; this does not touch the containers (jan up restarts the server in about a second, jan down removes them).")
	return err
}

func printSummary(w io.Writer, p *stack.Plan, pid int, foreground bool) {
	fmt.Fprintln(w)
	for _, u := range p.URLs() {
		fmt.Fprintf(w, "  %-16s %s\n", u[0], u[1])
	}
	if p.Model != "" {
		fmt.Fprintf(w, "  %-16s %s\n", "Model", p.Model)
	} else if p.Engine != nil {
		fmt.Fprintf(w, "  %-16s %s\n", "Models", strings.Join(p.Engine.Models, ", "))
	}
	fmt.Fprintf(w, "  %-16s %s (Keycloak admin password: KEYCLOAK_ADMIN_PASSWORD)\n", "Secrets", p.Secrets.Path)
	fmt.Fprintln(w)
	if pid > 0 && !foreground {
		fmt.Fprintf(w, "The llm-api server runs in the background (pid %d); jan logs llm-api shows its log, jan down stops everything.\n", pid)
	}
	fmt.Fprintln(w, "Next: jan guest   (a token)   ·   jan chat   (chat in the terminal)   ·   jan status")
}

// startDetached runs `jan serve` in the background with the stack's
// settings under the user's environment and the serve flags jan up was
// given, its output in the data dir's server.log, and waits until it
// answers /readyz.
func startDetached(ctx context.Context, o *upOptions, cfg config.Config, env map[string]string, extra []string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := []string{"serve", "--addr", cfg.Addr, "--data-dir", cfg.DataDir}
	o.Flags.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "db", "providers", "no-detect", "issuer", "guests", "client-id":
			args = append(args, "--"+f.Name+"="+f.Value.String())
		case "engine":
			urls, _ := o.Flags.GetStringSlice("engine")
			args = append(args, "--engine="+strings.Join(urls, ","))
		}
	})
	childEnv := os.Environ()
	for k, v := range env {
		if o.IO.Getenv(k) == "" {
			childEnv = append(childEnv, k+"="+v)
		}
	}
	if len(extra) > 0 {
		childEnv = append(childEnv, "JAN_EXTRA_ADDRS="+strings.Join(extra, ","))
	}
	pid, err := proc.Start(ctx, proc.Spec{Path: self, Args: args, Env: childEnv,
		Log: filepath.Join(cfg.DataDir, stack.ServerLogFile), Timeout: cfg.IdentityWait + 30*time.Second,
		Ready: proc.HTTPReady("http://" + config.Dialable(cfg.Addr) + "/readyz")})
	if err != nil {
		return 0, fmt.Errorf("the background server: %w", err)
	}
	return pid, nil
}

// runDryRun is jan up --dry-run: the plan jan up would carry out, from the
// same settings, with nothing started or written. The Docker engine is
// asked which images are missing if there is one; without one the plan
// says so.
func runDryRun(ctx context.Context, o *upOptions, req stack.LaunchRequest) error {
	inf, err := req.ChooseInference(ctx)
	if err != nil {
		return err
	}
	plan, err := stack.NewPlan(ctx, stack.Settings{DataDir: req.DataDir, Env: req.Env, Profile: inf.Profile, ServerAddr: req.ServerAddr, DryRun: true, Engine: inf.Engine, Fit: req.Fit})
	if err != nil {
		return err
	}
	st, why := stack.OpenStack(ctx, req.Env)
	if why != nil {
		st = nil
	}
	view := plan.View(inf.Reason, req.DataDir, stack.CheckImages(ctx, st, plan.Containers, req.Pull, why))
	if o.JSON {
		b, err := view.JSON()
		if err != nil {
			return err
		}
		_, err = o.IO.Out.Write(b)
		return err
	}
	view.WriteText(o.IO.Out)
	return nil
}
