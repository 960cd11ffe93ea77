package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpDryRun: jan up --dry-run shows the plan without a Docker engine,
// starts and writes nothing, never shows a secret (not even one the user
// set), and says the images could not be checked; --json is the same plan
// for scripts. Misused flags are refused with the fix.
func TestUpDryRun(t *testing.T) {
	t.Parallel()
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data") // does not exist, and must not after
	const secret = "a-postgres-password-the-user-chose-0123"
	env := append(os.Environ(), "DOCKER_HOST=unix:///nonexistent/docker.sock", "JAN_DATA_DIR="+dataDir,
		"POSTGRES_PASSWORD="+secret, "XDG_CONFIG_HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir())
	run := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = env, t.TempDir() // no .env from the checkout
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), errOut.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), 0
	}

	out, stderr, code := run("up", "--dry-run", "--json", "--gpu=none", "--inference=vllm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var plan struct {
		Inference struct{ Choice, Reason string }
		Services  []struct{ Name, Image string }
		Secrets   []struct{ Name, Source string }
		Images    struct {
			Checked bool
			Note    string
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if plan.Inference.Choice != "vllm-cpu" || !strings.Contains(plan.Inference.Reason, "--inference=vllm: --gpu=none") || len(plan.Services) != 6 {
		t.Errorf("plan: %+v", plan)
	}
	if plan.Images.Checked || !strings.Contains(plan.Images.Note, "not checked") {
		t.Errorf("images without an engine: %+v", plan.Images)
	}
	for _, s := range plan.Secrets {
		if s.Name == "POSTGRES_PASSWORD" && s.Source != "environment" {
			t.Errorf("POSTGRES_PASSWORD from %q, want environment", s.Source)
		}
	}
	text, _, code := run("up", "--dry-run", "--gpu=none", "--inference=vllm")
	if code != 0 || !strings.Contains(text, "nothing was started or written") || !strings.Contains(text, "vllm-cpu") {
		t.Errorf("exit %d:\n%s", code, text)
	}

	// An engine already running: no vLLM container, the server wired to it.
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"llama3.2:1b","object":"model"}]}`))
	}))
	defer engine.Close()
	ext, stderr, code := run("up", "--dry-run", "--json", "--gpu=none", "--engine", engine.URL)
	var extPlan struct {
		Inference struct{ Choice, Reason string }
		Services  []struct{ Name string }
		Server    struct{ Settings map[string]string }
	}
	if code != 0 || json.Unmarshal([]byte(ext), &extPlan) != nil {
		t.Fatalf("exit %d: %s%s", code, stderr, ext)
	}
	if extPlan.Inference.Choice != "external" || len(extPlan.Services) != 5 || extPlan.Server.Settings["JAN_ENGINE_URL"] != engine.URL {
		t.Errorf("with --engine: %+v", extPlan)
	}
	engine.Close()
	if _, stderr, code := run("up", "--dry-run", "--inference=external", "--engine", engine.URL); code == 0 || !strings.Contains(stderr, "--engine "+engine.URL) {
		t.Errorf("--inference=external with an engine that is gone: exit %d, %s", code, stderr)
	}
	if strings.Contains(out+text, secret) {
		t.Error("the plan shows the user's POSTGRES_PASSWORD")
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dry run created the data dir (%v)", err)
	}

	noKong, _, code := run("up", "--dry-run", "--gpu=none", "--inference=vllm", "--without", "kong")
	if code != 0 || strings.Contains(noKong, "kong:3") || !strings.Contains(noKong, "Without    kong: no gateway: clients talk to the llm-api server directly") {
		t.Errorf("--without kong: exit %d:\n%s", code, noKong)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--dry-run", "--without", "api-db"}, "--without api-db: jan up can leave out only kong and otel-collector"},
		{[]string{"up", "--json"}, "--json goes with --dry-run"},
		{[]string{"up", "--dry-run", "--embedded"}, "--embedded starts no containers"},
	} {
		if _, stderr, code := run(c.args...); code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("jan %v: exit %d, %q; want an error saying %q", c.args, code, stderr, c.want)
		}
	}
}
