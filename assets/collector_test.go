package assets_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janhq/jan/assets"
)

// TestCollectorValidatesShippedConfig: the real OpenTelemetry Collector —
// built from its Go modules with the contrib components the config names
// (tools/otelcol) — validates assets/otel-collector.yaml, and refuses a
// config that names a component it lacks.
func TestCollectorValidatesShippedConfig(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "otelcol")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, ".")
	build.Dir = filepath.Join("..", "tools", "otelcol")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build tools/otelcol: %v\n%s", err, out)
	}
	validate := func(config []byte) (string, error) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, config, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "validate", "--config="+path).CombinedOutput()
		return string(out), err
	}
	if out, err := validate(assets.OtelCollectorYAML); err != nil {
		t.Fatalf("the collector refuses assets/otel-collector.yaml: %v\n%s", err, out)
	}
	broken := bytes.ReplaceAll(assets.OtelCollectorYAML, []byte("health_check"), []byte("health_chek"))
	if out, err := validate(broken); err == nil || !strings.Contains(out, `unknown type: "health_chek"`) {
		t.Fatalf("a config naming a missing extension validated: %v\n%s", err, out)
	}
	version, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(version), "0.165.1") {
		t.Fatalf("--version: %s %v", version, err)
	}
}
