package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/proc"
)

// OpenStack finds and pings the Docker engine, for the Compose project env
// names (JAN_PROJECT). Its errors are one line with the fix.
func OpenStack(ctx context.Context, env map[string]string) (*Stack, error) {
	project, err := ProjectFrom(env)
	if err != nil {
		return nil, err
	}
	ep, err := DiscoverEngine(EngineHost{})
	if err != nil {
		return nil, err
	}
	cli, err := NewEngineClient(ep)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := Ping(pctx, cli, ep); err != nil {
		cli.Close()
		return nil, err
	}
	st := NewStack(cli, ep)
	st.Project = project
	return st, nil
}

// CheckStatus is how a doctor check came out.
type CheckStatus int

const (
	CheckOK CheckStatus = iota
	CheckWarn
	CheckFail
)

// Check is one thing jan doctor looked at: what, what it found, and for a
// warning or failure, the fix.
type Check struct {
	Name, Detail, Fix string
	Status            CheckStatus
}

// DoctorInput is what the checks look at.
type DoctorInput struct {
	DataDir         string
	Env             map[string]string // the interpolation environment (process env over .env)
	Images, Publish []string          // --image and --publish
	GPU             GPUMode
	Inference       InferenceMode // --inference ("" is auto)
	Engines         []string      // --engine URLs
	Find            *Engines      // how engines are found (nil: LocalEngines)
	Fit
	ServerAddr string // where the llm-api server listens
}

// Doctor runs every check jan up depends on, in the order jan up meets
// them, and stops at the first one that leaves nothing further to check.
func Doctor(ctx context.Context, in DoctorInput) []Check {
	var checks []Check
	ok := func(name, detail string) { checks = append(checks, Check{Name: name, Detail: detail}) }
	warn := func(name, detail, fix string) {
		checks = append(checks, Check{Name: name, Detail: detail, Fix: fix, Status: CheckWarn})
	}
	fail := func(name, detail, fix string) {
		checks = append(checks, Check{Name: name, Detail: detail, Fix: fix, Status: CheckFail})
	}

	if err := os.MkdirAll(in.DataDir, 0o700); err != nil {
		fail("data dir", err.Error(), "set --data-dir or JAN_DATA_DIR to a writable directory")
	} else {
		ok("data dir", in.DataDir)
	}
	env := make(map[string]string, len(in.Env))
	for k, v := range in.Env {
		env[k] = v
	}
	if err := Overrides(env, in.Images, in.Publish); err != nil {
		fail("settings", err.Error(), "correct the flag or .env")
		return checks
	}
	ep, err := DiscoverEngine(EngineHost{})
	if err != nil {
		fail("Docker engine", err.Error(), "install and start Docker (or set DOCKER_HOST); without Docker use jan up --embedded")
		return checks
	}
	st, err := OpenStack(ctx, env)
	if err != nil {
		fail("Docker engine", err.Error(), "start Docker (systemctl start docker / open Docker Desktop), or jan up --embedded")
		return checks
	}
	info, err := st.Info(ctx)
	if err != nil {
		fail("Docker engine", err.Error(), "check the engine's logs")
		return checks
	}
	ok("Docker engine", fmt.Sprintf("%s at %s (%s)", info.Version, ep.Host, ep.Source))

	choice := DetectHardware(ctx, in.GPU, Host{})
	if choice.Profile == ProfileGPU && !info.NVIDIA {
		warn("hardware", choice.Reason+"; the engine lists no nvidia runtime",
			"install the NVIDIA Container Toolkit and restart Docker (jan up probes the GPU and falls back to CPU with --gpu=auto)")
	} else {
		ok("hardware", choice.Reason)
	}

	profile, engine := choice.Profile, (*Engine)(nil)
	if inf, err := chooseWithDefaults(ctx, in.Inference, choice, in.Engines, in.Find); err != nil {
		fail("inference", err.Error(), "start the engine (ollama serve, LM Studio's server), pass --engine URL, or run the stack's vLLM with --inference=vllm")
	} else {
		ok("inference", inf.Reason)
		profile, engine = inf.Profile, inf.Engine
	}

	plan, err := NewPlan(ctx, Settings{DataDir: in.DataDir, Env: env, Profile: profile, ServerAddr: in.ServerAddr, Engine: engine, Fit: in.Fit})
	if err != nil {
		fail("stack configuration", err.Error(), "correct the setting it names (.env, JAN_* variables, --image/--publish)")
		return checks
	}
	if in.Issuer != "" {
		switch err := probeIssuer(ctx, in.Issuer, in.ClientID); {
		case err != nil && in.ClientID != "":
			fail("identity", "--issuer "+in.Issuer+" with --client-id "+in.ClientID+": "+err.Error(),
				"name the issuer exactly as its tokens' iss claim does; for jan login --web it must be an OpenID Connect provider with PKCE S256 (or run without --client-id)")
		case err != nil:
			fail("identity", "--issuer "+in.Issuer+": "+err.Error(), "name the issuer exactly as its tokens' iss claim does; it must serve /.well-known/openid-configuration")
		case in.ClientID != "":
			ok("identity", "--issuer "+in.Issuer+" answers; no Keycloak; jan login --web signs in there as client "+in.ClientID+", which must allow the redirect URI "+plan.LoginRedirect())
		default:
			ok("identity", "--issuer "+in.Issuer+" answers; no Keycloak (accounts are managed there; --client-id adds jan login --web)")
		}
	}
	ok("stack configuration", fmt.Sprintf("%s profile, %d services", plan.Profile, len(plan.Containers)))
	if fi, err := os.Stat(plan.Secrets.Path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fail("secrets", plan.Secrets.Path+" is readable by others", "chmod 600 "+plan.Secrets.Path)
	} else {
		ok("secrets", plan.Secrets.Path+" (0600)")
	}

	own := []HostPort{{Service: "llm-api", Addr: in.ServerAddr, Fix: "--addr or JAN_ADDR"}}
	if state, _, _ := LoadState(in.DataDir); proc.Alive(state.ServerPID) {
		own = nil
		ok("llm-api", fmt.Sprintf("running (pid %d, http://%s)", state.ServerPID, state.ServerAddr))
	}
	var taken PortsError
	switch err := st.CheckPorts(ctx, plan.Containers, own); {
	case errors.As(err, &taken):
		for _, c := range taken {
			if c.Also != "" {
				fail("port "+c.Port, fmt.Sprintf("set for both %s and %s", c.Also, c.Service), "move one with "+c.Fix)
				continue
			}
			fail("port "+c.Port, fmt.Sprintf("needed by %s, taken by %s", c.Service, c.Owner), "stop it, or move jan's with "+c.Fix)
		}
	case err != nil:
		fail("ports", err.Error(), "check the engine")
	default:
		ok("ports", "every published port is free (or already jan's)")
	}

	missing, err := st.MissingImages(ctx, plan.Containers)
	switch {
	case err != nil:
		fail("images", err.Error(), "check the engine")
	case len(missing) > 0:
		for img, svcs := range missing {
			warn("image "+img, "not present (service "+strings.Join(svcs, ", ")+")", "jan up pulls it (--pull=missing), or set "+ImageEnv(svcs[0])+" to an image you have")
		}
	default:
		ok("images", "all present")
	}
	if free, known := DiskFree(info.RootDir); known {
		if free < 10<<30 && len(missing) > 0 {
			warn("disk", HumanBytes(int64(free))+" free under "+info.RootDir, "free some space: the images and the model need several GB")
		} else {
			ok("disk", HumanBytes(int64(free))+" free under "+info.RootDir)
		}
	}

	services, err := st.Status(ctx)
	if err == nil {
		for _, s := range services {
			switch {
			case s.State != "running":
				fail("service "+s.Service, s.Status, "jan up (or jan logs "+s.Service+")")
			case s.Health == "unhealthy":
				fail("service "+s.Service, "unhealthy", "jan logs "+s.Service)
			default:
				ok("service "+s.Service, s.Status)
			}
		}
	}
	return checks
}

// HumanBytes writes n as 1.5 GB and the like (powers of 1024).
func HumanBytes(n int64) string {
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

// probeIssuer sets up the issuer's verifier and, with a client id, jan's
// client there, as the server will (auth.NewExternal): its discovery
// document, keys and, for the browser sign-in, endpoints and PKCE.
func probeIssuer(ctx context.Context, issuer, clientID string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := auth.NewExternal(ctx, nil, issuer, "", auth.OIDCClientOptions{ClientID: clientID})
	return err
}
