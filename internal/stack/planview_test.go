package stack

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDryRunPlan: the plan jan up --dry-run shows, for each profile, is
// stable (golden JSON), writes nothing to the data dir, and never contains
// a secret — neither the ones it would generate nor one the environment
// sets.
func TestDryRunPlan(t *testing.T) {
	for _, c := range []struct {
		profile Profile
		reason  string
	}{
		{ProfileCPU, "no NVIDIA driver (/proc/driver/nvidia is missing) → CPU profile"},
		{ProfileGPU, "1 × NVIDIA H100 80GB HBM3 (81559 MiB, driver 550.54.15) → vLLM GPU profile"},
	} {
		t.Run(string(c.profile), func(t *testing.T) {
			dir := t.TempDir()
			const fromEnv = "an-overridden-admin-password-0123456789"
			env := map[string]string{"KEYCLOAK_ADMIN_PASSWORD": fromEnv}
			p, err := NewPlan(context.Background(), Settings{DataDir: dir, Env: env, Profile: c.profile, ServerAddr: "127.0.0.1:8080", DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			v := p.View(c.reason, dir, CheckImages(context.Background(), nil, p.Containers, PullMissing, nil))
			got, err := v.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			v.WriteText(&text)
			for name, val := range p.Secrets.Env() {
				if strings.Contains(string(got), val) || strings.Contains(text.String(), val) {
					t.Errorf("the plan shows %s's value", name)
				}
			}
			if strings.Contains(string(got), fromEnv) || strings.Contains(string(got), dir) {
				t.Error("the plan shows a secret from the environment or the data dir's path")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a dry run wrote into the data dir: %v", entries)
			}
			vllm := map[Profile]string{ProfileCPU: ServiceVLLMCPU, ProfileGPU: ServiceVLLMGPU}[c.profile]
			if v.Inference.Choice != vllm || len(v.Services) != 6 || v.Services[len(v.Services)-1].Name == "" {
				t.Errorf("inference %q, %d services", v.Inference.Choice, len(v.Services))
			}
			golden(t, "plan_"+string(c.profile)+".json", got)
			golden(t, "plan_"+string(c.profile)+".txt", text.Bytes())
		})
	}
}

// golden compares got with testdata/name (-update rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-update rewrites it):\n%s", path, got)
	}
}
