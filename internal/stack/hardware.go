package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// GPUMode is --gpu: auto (detect), nvidia (insist), none (CPU profile).
type GPUMode string

const (
	GPUAuto   GPUMode = "auto"
	GPUNVIDIA GPUMode = "nvidia"
	GPUNone   GPUMode = "none"
)

// ParseGPUMode accepts --gpu's values; "" is auto.
func ParseGPUMode(s string) (GPUMode, error) {
	switch m := GPUMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return GPUAuto, nil
	case GPUAuto, GPUNVIDIA, GPUNone:
		return m, nil
	}
	return "", fmt.Errorf("--gpu=%s: want auto, nvidia or none", s)
}

// GPU is one NVIDIA GPU as nvidia-smi reports it.
type GPU struct {
	Name      string // "NVIDIA H100 80GB HBM3"
	MemoryMiB int
	Driver    string // "550.54.15"
}

// Choice is the profile jan up uses and why, in words for people (jan up,
// jan status, jan doctor).
type Choice struct {
	Profile Profile
	Reason  string
	GPUs    []GPU
}

// Runner runs a command and returns its standard output; tests replace it.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Host is what detection may look at. The zero value is the real machine.
type Host struct {
	Run     Runner                 // default: exec with no shell
	Exists  func(path string) bool // default: os.Stat
	GOOS    string                 // default: runtime.GOOS
	Timeout time.Duration          // for nvidia-smi; default 3 s
}

func (h Host) withDefaults() Host {
	if h.Run == nil {
		h.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).Output()
		}
	}
	if h.Exists == nil {
		h.Exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	if h.GOOS == "" {
		h.GOOS = runtime.GOOS
	}
	if h.Timeout <= 0 {
		h.Timeout = 3 * time.Second
	}
	return h
}

// nvidiaProc exists when the NVIDIA kernel driver is loaded (Linux, WSL2
// exposes /usr/lib/wsl/lib/nvidia-smi instead).
const nvidiaProc = "/proc/driver/nvidia"

// DetectHardware chooses the profile from host hints: the NVIDIA driver's
// /proc entry and nvidia-smi (bounded by a timeout). --gpu=none and
// --gpu=nvidia decide without asking, but nvidia still reports what it saw.
//
// TODO(issue 4, next round): after host hints say yes, ask the engine
// (Info().Runtimes has "nvidia", or CDI devices) and run a short probe
// container with a GPU device request, so "driver present, NVIDIA Container
// Toolkit missing" is explained with its fix and --gpu=auto falls back to
// the CPU profile.
func DetectHardware(ctx context.Context, mode GPUMode, h Host) Choice {
	h = h.withDefaults()
	if mode == GPUNone {
		return Choice{Profile: ProfileCPU, Reason: "--gpu=none → CPU profile"}
	}
	gpus, why := probeNVIDIA(ctx, h)
	if mode == GPUNVIDIA {
		if len(gpus) > 0 {
			return Choice{Profile: ProfileGPU, Reason: describeGPUs(gpus) + ", --gpu=nvidia → vLLM GPU profile", GPUs: gpus}
		}
		return Choice{Profile: ProfileGPU, Reason: "--gpu=nvidia (the host shows none: " + why + ") → vLLM GPU profile"}
	}
	if len(gpus) == 0 {
		return Choice{Profile: ProfileCPU, Reason: why + " → CPU profile"}
	}
	return Choice{Profile: ProfileGPU, Reason: describeGPUs(gpus) + " → vLLM GPU profile", GPUs: gpus}
}

// probeNVIDIA returns the GPUs nvidia-smi lists, or none and why.
func probeNVIDIA(ctx context.Context, h Host) ([]GPU, string) {
	if h.GOOS == "darwin" {
		return nil, "macOS: containers cannot use the GPU"
	}
	driver := h.Exists(nvidiaProc)
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	out, err := h.Run(ctx, "nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits")
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrNotFound) && !driver:
		return nil, "no NVIDIA GPU"
	case errors.Is(err, exec.ErrNotFound):
		return nil, "NVIDIA driver loaded but nvidia-smi is not installed"
	case ctx.Err() != nil:
		return nil, fmt.Sprintf("nvidia-smi did not answer within %s", h.Timeout)
	default:
		return nil, "nvidia-smi failed (" + firstLine(err.Error()) + ")"
	}
	gpus, err := parseNvidiaSMI(out)
	if err != nil {
		return nil, "nvidia-smi: " + err.Error()
	}
	if len(gpus) == 0 {
		return nil, "nvidia-smi lists no GPU"
	}
	return gpus, ""
}

// parseNvidiaSMI reads `--query-gpu=name,memory.total,driver_version
// --format=csv,noheader,nounits`: "NVIDIA H100 80GB HBM3, 81559, 550.54.15".
func parseNvidiaSMI(out []byte) ([]GPU, error) {
	var gpus []GPU
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected output %q", firstLine(line))
		}
		mem, err := strconv.Atoi(strings.TrimSpace(f[1]))
		if err != nil {
			mem = 0 // "[N/A]" on some boards: still a GPU
		}
		gpus = append(gpus, GPU{Name: strings.TrimSpace(f[0]), MemoryMiB: mem, Driver: strings.TrimSpace(f[2])})
	}
	return gpus, nil
}

// describeGPUs: "NVIDIA H100 80 GB, driver 550", "2× NVIDIA A10G 24 GB, driver 535".
func describeGPUs(gpus []GPU) string {
	g := gpus[0]
	name := strings.TrimSpace(g.Name)
	if g.MemoryMiB > 0 {
		gb := (g.MemoryMiB + 512) / 1024
		// Boards named with their size ("H100 80GB HBM3") already say it.
		if !strings.Contains(strings.ReplaceAll(name, " ", ""), strconv.Itoa(gb)+"GB") {
			name += fmt.Sprintf(" %d GB", gb)
		}
	}
	same := true
	for _, o := range gpus[1:] {
		if o.Name != g.Name {
			same = false
		}
	}
	switch {
	case len(gpus) > 1 && same:
		name = fmt.Sprintf("%d× %s", len(gpus), name)
	case len(gpus) > 1:
		name = fmt.Sprintf("%s and %d more GPUs", name, len(gpus)-1)
	}
	major, _, _ := strings.Cut(g.Driver, ".")
	if major != "" {
		name += ", driver " + major
	}
	return name
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
