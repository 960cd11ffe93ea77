package stack

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

func TestDetectHardware(t *testing.T) {
	t.Parallel()
	smi := func(out string, err error) Runner {
		return func(ctx context.Context, name string, args ...string) ([]byte, error) {
			if name != "nvidia-smi" {
				t.Errorf("ran %s", name)
			}
			return []byte(out), err
		}
	}
	hang := func(ctx context.Context, _ string, _ ...string) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	never := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		t.Errorf("--gpu=none ran %s", name)
		return nil, nil
	}
	const h100 = "NVIDIA H100 80GB HBM3, 81559, 550.54.15\n"
	for _, tc := range []struct {
		name    string
		mode    GPUMode
		proc    bool
		goos    string
		run     Runner
		profile Profile
		reason  string
	}{
		{"h100", GPUAuto, true, "linux", smi(h100, nil), ProfileGPU, "NVIDIA H100 80GB HBM3, driver 550 → vLLM GPU profile"},
		{"size added when the name lacks it", GPUAuto, true, "linux", smi("NVIDIA GeForce RTX 4090, 24564, 560.35.03", nil), ProfileGPU, "NVIDIA GeForce RTX 4090 24 GB, driver 560 → vLLM GPU profile"},
		{"two of a kind", GPUAuto, true, "linux", smi("NVIDIA A10G, 23028, 535.1\nNVIDIA A10G, 23028, 535.1\n", nil), ProfileGPU, "2× NVIDIA A10G 22 GB, driver 535 → vLLM GPU profile"},
		{"no driver, no nvidia-smi", GPUAuto, false, "linux", smi("", exec.ErrNotFound), ProfileCPU, "no NVIDIA GPU → CPU profile"},
		{"driver without nvidia-smi", GPUAuto, true, "linux", smi("", exec.ErrNotFound), ProfileCPU, "NVIDIA driver loaded but nvidia-smi is not installed → CPU profile"},
		{"nvidia-smi fails", GPUAuto, true, "linux", smi("", errors.New("exit status 9\nNVIDIA-SMI has failed")), ProfileCPU, "nvidia-smi failed (exit status 9) → CPU profile"},
		{"nvidia-smi hangs", GPUAuto, true, "linux", hang, ProfileCPU, "nvidia-smi did not answer within 50ms → CPU profile"},
		{"garbage", GPUAuto, true, "linux", smi("oops", nil), ProfileCPU, `nvidia-smi: unexpected output "oops" → CPU profile`},
		{"macOS", GPUAuto, false, "darwin", never, ProfileCPU, "macOS: containers cannot use the GPU → CPU profile"},
		{"none", GPUNone, true, "linux", never, ProfileCPU, "--gpu=none → CPU profile"},
		{"nvidia with a GPU", GPUNVIDIA, true, "linux", smi(h100, nil), ProfileGPU, "NVIDIA H100 80GB HBM3, driver 550, --gpu=nvidia → vLLM GPU profile"},
		{"nvidia without one", GPUNVIDIA, false, "linux", smi("", exec.ErrNotFound), ProfileGPU, "--gpu=nvidia (the host shows none: no NVIDIA GPU) → vLLM GPU profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := Host{Run: tc.run, Exists: func(p string) bool { return tc.proc && p == nvidiaProc }, GOOS: tc.goos, Timeout: 50 * time.Millisecond}
			c := DetectHardware(context.Background(), tc.mode, h)
			if c.Profile != tc.profile || c.Reason != tc.reason {
				t.Fatalf("got %s %q, want %s %q", c.Profile, c.Reason, tc.profile, tc.reason)
			}
			if (c.Profile == ProfileGPU) != (len(c.GPUs) > 0) && tc.mode != GPUNVIDIA {
				t.Errorf("GPUs = %v", c.GPUs)
			}
		})
	}
}

func TestParseGPUMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]GPUMode{"": GPUAuto, "auto": GPUAuto, "NVIDIA": GPUNVIDIA, "none": GPUNone} {
		if got, err := ParseGPUMode(in); err != nil || got != want {
			t.Errorf("ParseGPUMode(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := ParseGPUMode("amd"); err == nil {
		t.Error("amd accepted")
	}
}
