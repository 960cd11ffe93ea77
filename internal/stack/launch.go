package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// LaunchRequest is the stack half of jan up.
type LaunchRequest struct {
	DataDir string
	Env     map[string]string // the interpolation environment, --image/--publish applied
	GPU     GPUMode
	// Inference is --inference; Engines the engines the user named
	// (--engine); Find looks for engines (nil: LocalEngines).
	Inference InferenceMode
	Engines   []string
	Find      *Engines
	Fit
	Pull       PullPolicy
	ServerAddr string
	// ServerRunning: a server from an earlier jan up runs, so its port is
	// its own and not a conflict.
	ServerRunning bool
}

// Launched is a stack that is up.
type Launched struct {
	Plan   *Plan
	Choice Choice  // the profile and why
	Engine *Engine // ProfileExternal: the engine
	Info   EngineInfo
	Result UpResult
}

// Launch does on the engine what jan up does: picks the profile and says
// why, plans the services, checks every port (each conflict with its owner
// and fix) before anything starts, pulls what is missing, and brings every
// service up healthy, in dependency order. With --gpu=auto, when the GPU
// cannot be used (the probe container or the GPU service fails), it falls
// back to the CPU profile. Progress and notes go to s.Report; a failure
// leaves nothing this run created.
func (s *Stack) Launch(ctx context.Context, req LaunchRequest) (*Launched, error) {
	l := &Launched{}
	inf, err := req.ChooseInference(ctx)
	if err != nil {
		return nil, err
	}
	l.Choice, l.Engine = Choice{Profile: inf.Profile, Reason: inf.Reason, GPUs: inf.GPUs}, inf.Engine
	l.Info, _ = s.Info(ctx)
	if l.Choice.Profile == ProfileGPU && !l.Info.NVIDIA && req.GPU == GPUAuto {
		l.Choice.Reason += " (the engine lists no nvidia runtime: a probe container decides)"
	}
	s.report(Event{Step: StepNote, Detail: fmt.Sprintf("Docker engine %s at %s (%s)", l.Info.Version, s.Endpoint().Host, s.Endpoint().Source)})
	s.report(Event{Step: StepNote, Detail: "Inference: " + l.Choice.Reason})

	if l.Plan, err = s.plan(ctx, req, l.Choice.Profile, l.Engine); err != nil {
		return nil, err
	}
	var own []HostPort
	if !req.ServerRunning {
		own = append(own, HostPort{Service: "llm-api", Addr: req.ServerAddr, Fix: "--addr or JAN_ADDR"})
	}
	if err := s.CheckPorts(ctx, l.Plan.Containers, own); err != nil {
		return nil, fmt.Errorf("ports:\n%w", err)
	}
	if err := s.pullFor(ctx, l.Plan, req.Pull, l.Info); err != nil {
		return nil, err
	}
	fallBack := func(why error, what string) error {
		s.report(Event{Step: StepNote, Detail: fmt.Sprintf("%v\nFalling back to the CPU profile (--gpu=auto).", why)})
		if l.Plan, err = s.plan(ctx, req, ProfileCPU, nil); err != nil {
			return err
		}
		if err := s.pullFor(ctx, l.Plan, req.Pull, l.Info); err != nil {
			return err
		}
		l.Choice.Profile, l.Choice.Reason = ProfileCPU, l.Choice.Reason+"; "+what+" → CPU profile"
		return nil
	}
	if l.Plan.Profile == ProfileGPU && req.GPU == GPUAuto {
		c, _ := l.Plan.Container(l.Plan.VLLMService())
		if err := s.ProbeGPU(ctx, c.Image); err != nil {
			if !errors.Is(err, ErrGPU) {
				return nil, err
			}
			if err := fallBack(fmt.Errorf("GPU probe: %w", err), "the GPU probe failed"); err != nil {
				return nil, err
			}
		}
	}
	s.report(Event{Step: StepNote, Detail: fmt.Sprintf("Starting the %s stack…", l.Plan.Profile)})
	l.Result, err = s.Up(ctx, l.Plan.Containers)
	if err != nil && errors.Is(err, ErrGPU) && req.GPU == GPUAuto {
		if err := fallBack(err, "the GPU could not be used"); err != nil {
			return nil, err
		}
		l.Result, err = s.Up(ctx, l.Plan.Containers)
	}
	if err != nil {
		return nil, fmt.Errorf("jan up failed: %w\nNothing this run created was left behind. jan doctor checks the setup", err)
	}
	// Services an earlier jan up ran that this plan does not (another
	// inference choice, --without): stopped and removed, their volumes kept.
	if l.Result.Removed, err = s.RemoveOrphans(ctx, l.Plan.Containers); err != nil {
		return nil, err
	}
	return l, nil
}

func (s *Stack) plan(ctx context.Context, req LaunchRequest, p Profile, e *Engine) (*Plan, error) {
	return NewPlan(ctx, Settings{DataDir: req.DataDir, Env: req.Env, Profile: p, ServerAddr: req.ServerAddr, Engine: e, Fit: req.Fit})
}

// ChooseInference is the request's inference choice: the hardware (--gpu),
// then --inference over the engines named or found.
func (req LaunchRequest) ChooseInference(ctx context.Context) (Inference, error) {
	return chooseWithDefaults(ctx, req.Inference, DetectHardware(ctx, req.GPU, Host{}), req.Engines, req.Find)
}

// pullFor pulls what plan needs under policy, with a note first when the
// engine's disk is short.
func (s *Stack) pullFor(ctx context.Context, plan *Plan, policy PullPolicy, info EngineInfo) error {
	want, err := s.ImagesToPull(ctx, plan.Containers, policy)
	if err != nil || len(want) == 0 {
		return err
	}
	if free, ok := DiskFree(info.RootDir); ok && free < 10<<30 {
		s.report(Event{Step: StepNote, Detail: fmt.Sprintf("Warning: %s free under %s; the images need several GB.", HumanBytes(int64(free)), info.RootDir)})
	}
	defer s.report(Event{Step: StepPullsEnd})
	return s.Pull(ctx, want)
}

// Summary counts what Up did: "2 created, 4 unchanged".
func (r UpResult) Summary() string {
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
	add(len(r.Removed), "removed")
	return strings.Join(parts, ", ")
}
