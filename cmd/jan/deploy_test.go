package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// jan deploy render layers the example, values files and --set in that
// order (later wins); bad input fails with a message and no manifests.
// (deploy/helm's TestRenderWithoutHelm holds the renderer to helm's output.)
func TestDeployRender(t *testing.T) {
	run := func(stdin string, args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	replicas := func(manifests string) any {
		for _, doc := range strings.Split(manifests, "\n---\n") {
			var o struct {
				Kind     string
				Metadata struct{ Name string }
				Spec     map[string]any
			}
			if yaml.Unmarshal([]byte(doc), &o) == nil && o.Kind == "Deployment" && o.Metadata.Name == "jan" {
				return o.Spec["replicas"]
			}
		}
		return "no Deployment jan"
	}
	file := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(file, []byte("autoscaling:\n  enabled: false\nreplicaCount: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want any
	}{
		{[]string{"--set", "autoscaling.enabled=false"}, float64(2)},                            // the chart's default
		{[]string{"--example", "production", "--set", "autoscaling.enabled=false"}, float64(3)}, // the example's
		{[]string{"--example", "production", "-f", file}, float64(5)},                           // the file over the example
		{[]string{"-f", file, "--set", "replicaCount=7"}, float64(7)},                           // --set over the file
		{[]string{"--set", "autoscaling.enabled=false", "--set", "replicaCount=4"}, float64(4)}, // several --set
	} {
		out, err := run("", append([]string{"deploy", "render"}, tc.args...)...)
		if err != nil {
			t.Fatalf("render %v: %v", tc.args, err)
		}
		if got := replicas(out); got != tc.want {
			t.Errorf("render %v: replicas %v, want %v", tc.args, got, tc.want)
		}
	}
	if out, err := run("replicaCount: 6\nautoscaling: {enabled: false}\n", "deploy", "render", "-f", "-"); err != nil || replicas(out) != float64(6) {
		t.Errorf("values from stdin: %v, replicas %v", err, replicas(out))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--example", "nope"}, `no example "nope": the examples are gpu-vllm, production`},
		{[]string{"-f", "/nonexistent.yaml"}, "values file:"},
		{[]string{"--set", "database.type=sqlite"}, "sqlite serves one replica"},
		{[]string{"--set", "novalue"}, "want key.path=value"},
		{[]string{"--release", "Bad Name"}, `release name "Bad Name"`},
		{[]string{"--namespace", "-ns"}, `namespace "-ns"`},
	} {
		out, err := run("", append([]string{"deploy", "render"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("render %v: %v (printed %d bytes), want an error with %q", tc.args, err, len(out), tc.want)
		}
	}
	values, err := run("", "deploy", "values")
	if err != nil || !strings.Contains(values, "replicaCount:") {
		t.Errorf("deploy values: %v\n%.200s", err, values)
	}
}
