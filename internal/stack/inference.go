package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/janhq/jan/internal/inference"
)

// InferenceMode is --inference: where the stack's answers come from.
type InferenceMode string

const (
	// InferenceAuto: vLLM on a usable NVIDIA GPU; else an engine that is
	// already running (--engine, or one found on the usual local ports);
	// else vLLM on the CPU.
	InferenceAuto InferenceMode = "auto"
	// InferenceVLLM: the stack's vLLM, GPU or CPU profile as --gpu says.
	InferenceVLLM InferenceMode = "vllm"
	// InferenceExternal: an engine already running; no vLLM container.
	InferenceExternal InferenceMode = "external"
)

// ParseInferenceMode accepts --inference's values; "" is auto.
func ParseInferenceMode(s string) (InferenceMode, error) {
	switch m := InferenceMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return InferenceAuto, nil
	case InferenceAuto, InferenceVLLM, InferenceExternal:
		return m, nil
	}
	return "", fmt.Errorf("--inference=%s: want auto, vllm or external", s)
}

// Engine is an OpenAI-compatible engine the stack uses instead of vLLM.
type Engine struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Models []string `json:"models,omitempty"`
}

// Engines finds running engines: Probe asks one URL (--engine), Detect
// looks on the usual local ports. Tests replace them.
type Engines struct {
	Probe  func(ctx context.Context, url string) (Engine, error)
	Detect func(ctx context.Context) []Engine
}

// LocalEngines asks the real network: inference.ProbeEngine for a URL and
// inference.Detect over inference.LocalCandidates (Ollama, LM Studio, Jan,
// vLLM), never counting a jan server as an engine.
func LocalEngines() Engines {
	return Engines{
		Probe: func(ctx context.Context, url string) (Engine, error) {
			p, err := inference.ProbeEngine(ctx, "", url, nil)
			if err != nil {
				return Engine{}, err
			}
			return engineOf(p), nil
		},
		Detect: func(ctx context.Context) []Engine { return detect(ctx, inference.LocalCandidates) },
	}
}

// detect is inference.Detect over candidates, as Engines.
func detect(ctx context.Context, candidates []inference.Candidate) []Engine {
	var out []Engine
	for _, p := range inference.Detect(ctx, candidates, 2*time.Second) {
		out = append(out, engineOf(p))
	}
	return out
}

func engineOf(p inference.Provider) Engine {
	e := Engine{Name: p.Name, URL: p.BaseURL}
	for _, m := range p.Models {
		e.Models = append(e.Models, m.ID)
	}
	return e
}

// Inference is where the stack's answers come from, and why.
type Inference struct {
	Profile Profile // ProfileGPU or ProfileCPU (vLLM), or ProfileExternal
	Engine  *Engine // ProfileExternal: the engine
	Reason  string
	GPUs    []GPU
}

// chooseWithDefaults is ChooseInference with mode "" meaning auto and
// find nil meaning LocalEngines.
func chooseWithDefaults(ctx context.Context, mode InferenceMode, hw Choice, urls []string, find *Engines) (Inference, error) {
	if mode == "" {
		mode = InferenceAuto
	}
	e := LocalEngines()
	if find != nil {
		e = *find
	}
	return ChooseInference(ctx, mode, hw, urls, e)
}

// ChooseInference decides for mode, given the hardware choice (--gpu) and
// the engines the user named (--engine, JAN_ENGINE_URL). A named engine
// that does not answer is an error whatever the mode but vllm: the user
// asked for it. auto and external look on the usual local ports when none
// is named.
func ChooseInference(ctx context.Context, mode InferenceMode, hw Choice, urls []string, e Engines) (Inference, error) {
	vllm := Inference{Profile: hw.Profile, Reason: hw.Reason, GPUs: hw.GPUs}
	if mode == InferenceVLLM {
		vllm.Reason = "--inference=vllm: " + hw.Reason
		return vllm, nil
	}
	if mode == InferenceAuto && hw.Profile == ProfileGPU {
		return vllm, nil
	}
	var found *Engine
	var how string
	if len(urls) > 0 {
		eng, err := e.Probe(ctx, urls[0])
		if err != nil {
			return Inference{}, fmt.Errorf("--engine %s: %w", urls[0], err)
		}
		found, how = &eng, "--engine "+eng.URL+" answers"
	} else if engines := e.Detect(ctx); len(engines) > 0 {
		found, how = &engines[0], fmt.Sprintf("%s answers on %s", engines[0].Name, engines[0].URL)
	}
	if found != nil {
		what := fmt.Sprintf("%d models", len(found.Models))
		if len(found.Models) == 1 {
			what = "1 model"
		}
		why := how + " (" + what + ") → that engine, no vLLM container"
		if mode == InferenceAuto {
			why = strings.TrimSuffix(hw.Reason, " → CPU profile") + "; " + why
		} else {
			why = "--inference=external: " + why
		}
		return Inference{Profile: ProfileExternal, Engine: found, Reason: why}, nil
	}
	if mode == InferenceExternal {
		return Inference{}, fmt.Errorf("--inference=external: no engine answers on the usual local ports (%s): start one (ollama serve, LM Studio's server) or name it with --engine URL", candidateList())
	}
	vllm.Reason = hw.Reason + "; no engine answers on the usual local ports (--engine URL names one)"
	return vllm, nil
}

func candidateList() string {
	var parts []string
	for _, c := range inference.LocalCandidates {
		parts = append(parts, c.Name+" "+strings.TrimPrefix(c.BaseURL, "http://"))
	}
	return strings.Join(parts, ", ")
}
