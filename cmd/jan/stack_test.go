package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/stack"
	"github.com/janhq/jan/internal/stack/stacktest"
)

// stackRun is one isolated jan stack for a test: its own Compose project,
// data dir, config dir and free ports, with the stand-in images.
type stackRun struct {
	t        *testing.T
	bin      string
	env      []string
	dataDir  string
	project  string
	addr     string // llm-api
	gateway  string // Kong's host port
	otelHTTP string
	cli      *client.Client
}

func newStackRun(t *testing.T) *stackRun {
	t.Helper()
	cli := stacktest.Docker(t)
	imgs := stacktest.Images(t, cli)
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	// The server's port, like the published ones, below the ephemeral range:
	// there, this test process's own connections can take it before jan up
	// listens ("port … is taken by process jan.test", seen in CI).
	r := &stackRun{t: t, bin: bin, dataDir: t.TempDir(), project: "jane2e" + hex.EncodeToString(b), cli: cli,
		addr: "127.0.0.1:" + stacktest.HostPort(t)}
	env := map[string]string{
		"JAN_DATA_DIR": r.dataDir, "XDG_CONFIG_HOME": t.TempDir(), stack.ProjectEnv: r.project, "JAN_ADDR": r.addr,
		"LOG_FORMAT": "json",
		// The stack's vLLM stand-in, whatever engines the machine runs.
		"JAN_INFERENCE": "vllm",
		// OTLP metrics every second instead of every minute (the SDK reads it).
		"OTEL_METRIC_EXPORT_INTERVAL": "1000",
	}
	for k, v := range imgs.Env() {
		env[k] = v
	}
	r.env = os.Environ()
	for k, v := range env {
		r.env = append(r.env, k+"="+v)
	}
	r.drawPorts()
	t.Cleanup(func() {
		out, err := r.jan("down", "--volumes")
		if err != nil {
			t.Logf("cleanup: jan down --volumes: %v\n%s", err, out)
		}
	})
	return r
}

// portVars are the host ports the stack publishes.
var portVars = []string{"JAN_GATEWAY_PORT", "JAN_OTEL_HTTP_PORT", "JAN_OTEL_GRPC_PORT", "JAN_KEYCLOAK_PORT",
	"JAN_API_DB_PORT", "JAN_KEYCLOAK_DB_PORT", "JAN_VLLM_PORT"}

// drawPorts picks free host ports for the stack (again, when another test
// process took one between the pick and Docker's bind).
func (r *stackRun) drawPorts() {
	r.env = slices.DeleteFunc(r.env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(portVars, k)
	})
	ports := map[string]string{}
	for _, k := range portVars {
		p := stacktest.HostPort(r.t)
		ports[k] = p
		r.env = append(r.env, k+"="+p)
	}
	r.gateway, r.otelHTTP = ports["JAN_GATEWAY_PORT"], ports["JAN_OTEL_HTTP_PORT"]
}

// jan runs the binary to completion. A `jan up` that lost a published port
// to another test process (Docker: "port is already allocated") runs again
// on new ports, up to twice.
func (r *stackRun) jan(args ...string) (string, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		cmd := exec.CommandContext(ctx, r.bin, args...)
		cmd.Env, cmd.Dir = r.env, r.dataDir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil && len(args) > 0 && args[0] == "up" && attempt < 2 && strings.Contains(string(out), "port is already allocated") {
			r.t.Logf("jan up lost a port to another process; again on new ports")
			r.drawPorts()
			continue
		}
		return string(out), err
	}
}

func (r *stackRun) mustJan(args ...string) string {
	r.t.Helper()
	out, err := r.jan(args...)
	if err != nil {
		r.t.Fatalf("jan %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// owned lists the project's containers and volumes on the engine.
func (r *stackRun) owned() (containers, volumes []string) {
	r.t.Helper()
	f := client.Filters{}.Add("label", stack.LabelProject+"="+r.project)
	cs, err := r.cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, c := range cs.Items {
		containers = append(containers, c.Labels[stack.LabelService])
	}
	vs, err := r.cli.VolumeList(context.Background(), client.VolumeListOptions{Filters: f})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, v := range vs.Items {
		volumes = append(volumes, v.Name)
	}
	return containers, volumes
}

func (r *stackRun) do(method, path, token, body string) (int, []byte) {
	r.t.Helper()
	req, _ := http.NewRequest(method, "http://127.0.0.1:"+r.gateway+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s through Kong: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// The whole stack through the binary: jan up -d with every service
// healthy, the server migrated on the containerised Postgres, API calls and
// a streamed answer through the Kong stand-in, spans at the collector,
// status, an idempotent second up, down keeping data for the next up, logs,
// and down --volumes.
func TestStackUpThroughKong(t *testing.T) {
	r := newStackRun(t)
	out := r.mustJan("up", "-d")
	if !strings.Contains(out, "Containers ready") || !strings.Contains(out, "6 created") {
		t.Fatalf("jan up -d:\n%s", out)
	}

	code, body := r.do("POST", "/auth/guest", "", "")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if code != 201 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("guest through Kong: %d %s", code, body)
	}
	code, body = r.do("GET", "/v1/models", tok.AccessToken, "")
	if code != 200 || !strings.Contains(string(body), `"id":"jan-v1-4b"`) {
		t.Fatalf("models through Kong: %d %s", code, body)
	}
	code, body = r.do("POST", "/v1/conversations", tok.AccessToken, `{"title":"kept across down"}`)
	var conv struct {
		ID string `json:"id"`
	}
	if code != 200 && code != 201 || json.Unmarshal(body, &conv) != nil || conv.ID == "" {
		t.Fatalf("create conversation: %d %s", code, body)
	}

	// A streamed answer, chunk by chunk through the gateway.
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+r.gateway+"/v1/chat/completions",
		strings.NewReader(`{"model":"jan-v1-4b","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	done := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			done = true
			break
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(line), &chunk) == nil && len(chunk.Choices) > 0 {
			text.WriteString(chunk.Choices[0].Delta.Content)
		}
	}
	resp.Body.Close()
	if !done || !strings.HasPrefix(text.String(), "Hello from the fake engine.") {
		t.Fatalf("stream through Kong: done=%v text=%q", done, text.String())
	}

	// Spans and metrics reach the real collector: its debug exporter prints
	// them (`jan logs otel-collector`, as a user would look). The exporters
	// batch: poll.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := r.jan("logs", "otel-collector")
		if err == nil && strings.Contains(out, `"otelcol.signal": "traces"`) && strings.Contains(out, `"otelcol.signal": "metrics"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spans and metrics in the collector's debug output (%v):\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	var status stack.Overview
	if err := json.Unmarshal([]byte(r.mustJan("status", "--json")), &status); err != nil {
		t.Fatal(err)
	}
	if len(status.Services) != 6 || !status.Server.Ready || status.Server.PID == 0 || status.Profile != "cpu" || status.Model != "jan-v1-4b" {
		t.Errorf("status: %+v", status)
	}
	for _, s := range status.Services {
		if s.State != "running" || s.Health != "healthy" {
			t.Errorf("service %s: %s/%s", s.Service, s.State, s.Health)
		}
	}
	if cs, _ := r.owned(); len(cs) != 6 {
		t.Errorf("docker ps --filter label=%s=%s lists %v", stack.LabelProject, r.project, cs)
	}

	out = r.mustJan("up", "-d")
	if !strings.Contains(out, "6 unchanged") || !strings.Contains(out, "left as it is") {
		t.Errorf("second jan up -d changed something:\n%s", out)
	}
	if logs := r.mustJan("logs", "llm-api", "--tail", "3"); strings.Count(logs, "\n") != 3 || !strings.Contains(logs, `"msg"`) {
		t.Errorf("jan logs llm-api --tail 3:\n%s", logs)
	}
	if logs := r.mustJan("logs", "kong"); !strings.Contains(logs, "/v1/models") {
		t.Errorf("jan logs kong has no access log line for /v1/models:\n%s", logs)
	}

	out = r.mustJan("down")
	cs, vs := r.owned()
	if len(cs) != 0 || len(vs) != 3 || !strings.Contains(out, "Data kept") {
		t.Fatalf("after jan down: containers %v volumes %v\n%s", cs, vs, out)
	}
	if res, err := http.Get("http://" + r.addr + "/readyz"); err == nil {
		res.Body.Close()
		t.Error("the background server still answers after jan down")
	}

	// The conversation written before down is in the database after up.
	r.mustJan("up", "-d")
	secrets, err := stack.LoadSecrets(r.dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dbPort string
	for _, kv := range r.env {
		if v, ok := strings.CutPrefix(kv, "JAN_API_DB_PORT="); ok {
			dbPort = v
		}
	}
	db, err := sql.Open("pgx", "postgres://jan_user:"+secrets.Get(stack.SecretPostgresPassword)+"@127.0.0.1:"+dbPort+"/jan_llm_api?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var title string
	if err := db.QueryRow(`SELECT title FROM conversations WHERE id = $1`, conv.ID).Scan(&title); err != nil || title != "kept across down" {
		t.Errorf("conversation %s after down and up: %q %v", conv.ID, title, err)
	}

	r.mustJan("down", "--volumes")
	if cs, vs := r.owned(); len(cs)+len(vs) != 0 {
		t.Errorf("after jan down --volumes: %v %v", cs, vs)
	}
}

// A taken port stops jan up before anything starts, naming the port, its
// owner and the setting that moves it.
func TestStackUpPortTaken(t *testing.T) {
	r := newStackRun(t)
	ln, err := net.Listen("tcp", "0.0.0.0:"+r.gateway)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := r.jan("doctor")
	if err == nil || !strings.Contains(out, "✗ port "+r.gateway+": needed by kong, taken by process") ||
		!strings.Contains(out, "fix: stop it, or move jan's with --publish gateway=PORT or JAN_GATEWAY_PORT") ||
		!strings.Contains(out, "✓ Docker engine") || !strings.Contains(out, "1 problem(s) found") {
		t.Errorf("jan doctor with port %s taken (err %v):\n%s", r.gateway, err, out)
	}
	out, err = r.jan("up", "-d")
	if err == nil {
		t.Fatalf("jan up succeeded with port %s taken:\n%s", r.gateway, out)
	}
	for _, want := range []string{"port " + r.gateway + " (kong) is taken by process", "--publish gateway=PORT or JAN_GATEWAY_PORT"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in:\n%s", want, out)
		}
	}
	if cs, vs := r.owned(); len(cs)+len(vs) != 0 {
		t.Errorf("jan up created %v %v before failing", cs, vs)
	}

	// The server set on the gateway's port: free now, but taken by the
	// gateway before the server would listen. Found before anything starts.
	ln.Close()
	r.env = append(r.env, "JAN_ADDR=127.0.0.1:"+r.gateway)
	out, err = r.jan("doctor")
	if err == nil || !strings.Contains(out, "✗ port "+r.gateway+": set for both llm-api and kong") ||
		!strings.Contains(out, "fix: move one with --publish gateway=PORT or JAN_GATEWAY_PORT") {
		t.Errorf("jan doctor with the server on the gateway's port (err %v):\n%s", err, out)
	}
	out, err = r.jan("up", "-d")
	if err == nil {
		t.Fatalf("jan up succeeded with the server on the gateway's port %s:\n%s", r.gateway, out)
	}
	if want := "port " + r.gateway + " (kong) is also set for llm-api: choose another with --publish gateway=PORT or JAN_GATEWAY_PORT"; !strings.Contains(out, want) {
		t.Errorf("%q not in:\n%s", want, out)
	}
	if cs, vs := r.owned(); len(cs)+len(vs) != 0 {
		t.Errorf("jan up created %v %v before failing", cs, vs)
	}
}

// Ctrl+C while jan up waits on healthchecks removes what it created.
func TestStackUpInterrupted(t *testing.T) {
	r := newStackRun(t)
	cmd := exec.Command(r.bin, "up", "-d")
	cmd.Env, cmd.Dir = r.env, r.dataDir
	logPath := filepath.Join(t.TempDir(), "up.out")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	output := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(output(), "waiting for its healthcheck") {
		if time.Now().After(deadline) {
			t.Fatalf("jan up never waited on a healthcheck:\n%s", output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil {
		t.Fatalf("jan up exited 0 after Ctrl+C:\n%s", output())
	}
	if !strings.Contains(output(), "rolling back") {
		t.Errorf("no rollback reported:\n%s", output())
	}
	if cs, vs := r.owned(); len(cs)+len(vs) != 0 {
		t.Errorf("left behind after Ctrl+C: %v %v\n%s", cs, vs, output())
	}
}

// Without a reachable engine every stack command says so in one line with
// the fix, exits non-zero, and writes nothing.
func TestStackCommandsWithoutEngine(t *testing.T) {
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "doctor")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(dir, "no.sock"), "JAN_DATA_DIR="+filepath.Join(dir, "doctor"), "XDG_CONFIG_HOME="+dir)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "✗ Docker engine") || !strings.Contains(string(out), "fix: start Docker") {
		t.Errorf("jan doctor without an engine (err %v):\n%s", err, out)
	}
	for _, args := range [][]string{{"up"}, {"up", "-d"}, {"status"}, {"logs", "kong"}, {"down"}, {"down", "--volumes"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(dir, "no.sock"), "JAN_DATA_DIR="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+dir)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("jan %v exited 0:\n%s", args, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "not reachable") || !strings.Contains(lines[0], "jan up --embedded") {
			t.Errorf("jan %v said:\n%s", args, out)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "data")); len(entries) != 0 {
		t.Errorf("the data dir got %d entries", len(entries))
	}
}

// On a host whose nvidia-smi lists a GPU but whose engine has no NVIDIA
// runtime: --gpu=nvidia fails with the fix and leaves nothing behind;
// --gpu=auto says why and falls back to the CPU profile.
func TestStackGPUFallback(t *testing.T) {
	r := newStackRun(t)
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 550.54.15'\n"
	if err := os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "PATH="+bin+":"+os.Getenv("PATH"))

	out, err := r.jan("up", "-d", "--gpu=nvidia")
	if err == nil {
		t.Fatalf("jan up --gpu=nvidia succeeded without a GPU runtime:\n%s", out)
	}
	for _, want := range []string{"NVIDIA H100 80GB HBM3, driver 550", "vllm-llama", "NVIDIA Container Toolkit"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in:\n%s", want, out)
		}
	}
	if cs, vs := r.owned(); len(cs)+len(vs) != 0 {
		t.Errorf("left behind: %v %v", cs, vs)
	}

	out = r.mustJan("up", "-d", "--gpu=auto")
	if !strings.Contains(out, "Falling back to the CPU profile") || !strings.Contains(out, "Containers ready") {
		t.Errorf("jan up --gpu=auto:\n%s", out)
	}
	var status stack.Overview
	if err := json.Unmarshal([]byte(r.mustJan("status", "--json")), &status); err != nil {
		t.Fatal(err)
	}
	if status.Profile != "cpu" || !strings.Contains(status.Reason, "GPU probe failed") {
		t.Errorf("status profile %q reason %q", status.Profile, status.Reason)
	}
}

// DOCKER_HOST=ssh://… reaches the engine the way the docker CLI does: ssh
// runs `docker system dial-stdio` on the host (here a fake ssh runs it
// locally and records how it was called).
func TestStackOverSSH(t *testing.T) {
	r := newStackRun(t)
	if _, err := exec.LookPath("docker"); err != nil {
		// The engine answered (newStackRun), so CI installed Docker: its CLI
		// missing there is a failure, not a reason to skip.
		if os.Getenv("CI") == "true" || strings.Contains(os.Getenv("JAN_TEST_REQUIRE"), "docker") {
			t.Fatal("no docker CLI for the fake ssh to run")
		}
		t.Skip("no docker CLI for the fake ssh to run")
	}
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\nunset DOCKER_HOST\nexec docker system dial-stdio\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "PATH="+bin+":"+os.Getenv("PATH"), "DOCKER_HOST=ssh://ann@build-box:2222")
	out := r.mustJan("status", "--json")
	var status stack.Overview
	if err := json.Unmarshal([]byte(out), &status); err != nil || status.Engine != "ssh://ann@build-box:2222" {
		t.Fatalf("jan status over ssh: %v\n%s", err, out)
	}
	args, _ := os.ReadFile(argsFile)
	if got := strings.TrimSpace(string(args)); got != "-o ConnectTimeout=30 -T -l ann -p 2222 -- build-box docker system dial-stdio" {
		t.Errorf("ssh was run with %q", got)
	}
}

// An identity outlives jan down and jan up: a guest's access token from
// before is accepted after (Keycloak — here its double, which keeps its
// keys, users and sessions in keycloak-db as Keycloak does — signs with
// the same key), its refresh token still refreshes, and its conversations
// are still its own.
func TestStackKeepsIdentitiesAcrossDownUp(t *testing.T) {
	r := newStackRun(t)
	r.mustJan("up", "-d")
	code, body := r.do("POST", "/auth/guest", "", "")
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if code != 201 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("guest through Kong: %d %s", code, body)
	}
	code, body = r.do("POST", "/v1/conversations", tok.AccessToken, `{"title":"mine across down"}`)
	if code != 201 {
		t.Fatalf("create conversation: %d %s", code, body)
	}

	r.mustJan("down")
	r.mustJan("up", "-d")
	if logs := r.mustJan("logs", "keycloak"); !strings.Contains(logs, "already exists. Import skipped") {
		t.Errorf("keycloak imported its realm again instead of keeping it:\n%s", logs)
	}
	code, body = r.do("GET", "/v1/conversations", tok.AccessToken, "")
	if code != 200 || !strings.Contains(string(body), "mine across down") {
		t.Fatalf("the token from before down, after up: %d %s", code, body)
	}
	code, body = r.do("POST", "/auth/refresh", "", `{"refresh_token":"`+tok.RefreshToken+`"}`)
	var fresh struct {
		AccessToken string `json:"access_token"`
	}
	if code != 200 || json.Unmarshal(body, &fresh) != nil || fresh.AccessToken == "" {
		t.Fatalf("the refresh token from before down, after up: %d %s", code, body)
	}
	if code, body = r.do("GET", "/v1/conversations", fresh.AccessToken, ""); code != 200 || !strings.Contains(string(body), "mine across down") {
		t.Fatalf("the refreshed token: %d %s", code, body)
	}
}

// compose is Docker Compose built from its module (tools/compose), run
// standalone against the test's engine.
var composeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "jan-compose-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "docker-compose")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, "github.com/docker/compose/v5/cmd")
	cmd.Dir = filepath.Join("..", "..", "tools", "compose")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build docker compose: %v\n%s", err, out)
	}
	return bin, nil
})

func (r *stackRun) compose(args ...string) (string, error) {
	r.t.Helper()
	bin, err := composeBinary()
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-p", r.project}, args...)...)
	cmd.Env = r.env
	cmd.Dir = r.t.TempDir() // no compose file here: Compose works from the containers' labels
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Docker Compose sees jan's stack as a Compose project: ps lists the six
// services with their health, logs reads a service's output, down removes
// what jan made (and --volumes its volumes).
func TestComposeSeesTheStack(t *testing.T) {
	r := newStackRun(t)
	r.mustJan("up", "-d")
	out, err := r.compose("ps", "--format", "json")
	if err != nil {
		t.Fatalf("docker compose ps: %v\n%s", err, out)
	}
	services := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c struct{ Service, State, Health string }
		if json.Unmarshal([]byte(line), &c) == nil && c.Service != "" {
			services[c.Service] = c.State + "/" + c.Health
		}
	}
	for _, s := range []string{"api-db", "keycloak-db", "keycloak", "kong", "otel-collector", "vllm-cpu"} {
		if services[s] != "running/healthy" {
			t.Errorf("docker compose ps: %s is %q\n%s", s, services[s], out)
		}
	}
	if len(services) != 6 {
		t.Errorf("docker compose ps lists %d services: %v", len(services), services)
	}
	r.do("GET", "/v1/models", "", "") // an access log line at Kong
	if out, err := r.compose("logs", "kong"); err != nil || !strings.Contains(out, "kong") || !strings.Contains(out, "/v1/models") {
		t.Errorf("docker compose logs kong: %v\n%s", err, out)
	}
	if out, err := r.compose("down", "--volumes"); err != nil {
		t.Fatalf("docker compose down: %v\n%s", err, out)
	}
	if cs, vs := r.owned(); len(cs)+len(vs) != 0 {
		t.Errorf("after docker compose down --volumes: containers %v, volumes %v", cs, vs)
	}
	nets, err := r.cli.NetworkList(context.Background(), client.NetworkListOptions{Filters: client.Filters{}.Add("label", stack.LabelProject+"="+r.project)})
	if err != nil || len(nets.Items) != 0 {
		t.Errorf("after docker compose down: networks %v %v", nets.Items, err)
	}
}
