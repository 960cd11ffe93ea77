package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/assets"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/stack"
)

func TestVLLMArgs(t *testing.T) {
	t.Parallel()
	cpu := composeService(t, stack.ProfileCPU, stack.ServiceVLLMCPU).Cmd
	gpu := composeService(t, stack.ProfileGPU, stack.ServiceVLLMGPU).Cmd
	for _, tc := range []struct {
		name   string
		args   []string
		model  string
		served []string
		addr   string
	}{
		{"compose cpu", cpu, "janhq/Jan-v1-4B", []string{"jan-v1-4b"}, "0.0.0.0:8000"},
		{"compose gpu", gpu, "Qwen/Qwen2.5-3B-Instruct-AWQ", []string{"qwen2.5-3b-instruct-awq"}, "0.0.0.0:8000"},
		{"space-separated values", []string{"--model", "m", "--enforce-eager", "--dtype", "half", "--port", "9"}, "m", []string{"m"}, ":9"},
		{"several served names", []string{"--served-model-name", "a", "b", "--port=1"}, "facebook/opt-125m", []string{"a", "b"}, ":1"},
		{"vllm serve", []string{"serve", "org/m", "--host=127.0.0.1"}, "org/m", []string{"org/m"}, "127.0.0.1:8000"},
	} {
		f, err := parseVLLMArgs(tc.args)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if addr := f.host + ":" + strconv.Itoa(f.port); f.model != tc.model || !slices.Equal(f.served, tc.served) || addr != tc.addr {
			t.Errorf("%s: %+v, want model %s served %v on %s", tc.name, f, tc.model, tc.served, tc.addr)
		}
	}
	if _, err := parseVLLMArgs([]string{"--port=http"}); err == nil {
		t.Error("--port=http accepted")
	}
}

func TestVLLMKeyGuardsV1Only(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	srv := httptest.NewServer(vllmHandler(fakeengine.New(fakeengine.Options{Models: []string{"m"}}), "k", log.New(logs, "", 0)))
	defer srv.Close()
	for _, tc := range []struct {
		path, auth string
		status     int
		body       string
	}{
		{"/health", "", 200, ""},
		{"/version", "", 200, `"version":"` + vllmVersion + `"`},
		{"/v1/models", "", 401, `{"error":"Unauthorized"}`},
		{"/v1/models", "Bearer nope", 401, `{"error":"Unauthorized"}`},
		{"/v1/models", "Bearer k", 200, `"id":"m"`},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
			t.Errorf("GET %s (%q): %d %s, want %d %s", tc.path, tc.auth, res.StatusCode, b, tc.status, tc.body)
		}
	}
	if !logs.waitFor(`"GET /health HTTP/1.1" 200 OK`) {
		t.Errorf("access log:\n%s", logs.String())
	}
}

func TestKeycloakOptions(t *testing.T) {
	t.Parallel()
	kc := composeService(t, stack.ProfileCPU, stack.ServiceKeycloak)
	env := map[string]string{}
	for _, kv := range kc.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	o, err := parseKeycloakArgs(kc.Cmd, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.command != "start-dev" || !o.importRealm || o.httpPort != 8085 || o.mgmtPort != 9000 || !o.healthEnabled ||
		o.baseURL() != "http://localhost:8085" || o.importDir != "/opt/keycloak/data/import" {
		t.Errorf("compose's keycloak: %+v", o)
	}
	if len(kc.Files) != 1 || filepath.Dir(kc.Files[0].Target) != o.importDir {
		t.Errorf("compose copies the realm to %v, the stand-in imports from %s", kc.Files, o.importDir)
	}

	for _, args := range [][]string{nil, {"build"}, {"start-dev", "--http-port=http"}} {
		if _, err := parseKeycloakArgs(args, func(string) string { return "" }); err == nil {
			t.Errorf("keycloak %q accepted", args)
		}
	}
	o, _ = parseKeycloakArgs([]string{"start", "--http-port", "81"}, func(k string) string {
		return map[string]string{"KC_HTTP_PORT": "80", "KC_HOME_DIR": "/kc"}[k]
	})
	if o.httpPort != 81 || o.importRealm || o.importDir != "/kc/data/import" {
		t.Errorf("flags over env: %+v", o)
	}
	if _, err := o.realmFile(); err == nil || !strings.Contains(err.Error(), "--import-realm") {
		t.Errorf("no --import-realm: %v", err)
	}
	o.importRealm = true
	if _, err := o.realmFile(); err == nil || !strings.Contains(err.Error(), "realm-jan.json") {
		t.Errorf("no realm file: %v", err)
	}
}

func TestKeycloakManagement(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	on := httptest.NewServer(keycloakManagement(true, &ready))
	defer on.Close()
	off := httptest.NewServer(keycloakManagement(false, &ready))
	defer off.Close()
	get := func(url string) int {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get(on.URL + "/health/ready"); s != 503 {
		t.Errorf("before the realm is imported: %d", s)
	}
	if s := get(on.URL + "/health/live"); s != 200 {
		t.Errorf("live: %d", s)
	}
	ready.Store(true)
	if s := get(on.URL + "/health/ready"); s != 200 {
		t.Errorf("ready: %d", s)
	}
	if s := get(off.URL + "/health/ready"); s != 404 {
		t.Errorf("KC_HEALTH_ENABLED unset: %d, want 404", s)
	}
}

// TestKeycloakServes runs the personality on a realm directory and asks
// the health port and the realm's discovery document.
func TestKeycloakServes(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "data", "import"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "data", "import", "realm-jan.json"), assets.RealmJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, mgmtAddr := freeAddr(t), freeAddr(t)
	_, httpPort, _ := strings.Cut(httpAddr, ":")
	_, mgmtPort, _ := strings.Cut(mgmtAddr, ":")
	env := map[string]string{"KC_HOME_DIR": home, "KC_HEALTH_ENABLED": "true", "KC_HTTP_HOST": "127.0.0.1",
		"KC_HTTP_MANAGEMENT_PORT": mgmtPort, "KC_HOSTNAME": "http://localhost:8085", "BACKEND_CLIENT_SECRET": "s"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var out syncBuffer
	go func() {
		done <- run(ctx, []string{"keycloak", "start-dev", "--import-realm", "--http-port=" + httpPort},
			func(k string) string { return env[k] }, &out, &out)
	}()
	probe, err := parseProbeScript("exec 3<>/dev/tcp/" + strings.Replace(mgmtAddr, ":", "/", 1) +
		" && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; probe.run(context.Background(), time.Second) != nil; i++ {
		if i == 200 {
			cancel()
			<-done
			t.Fatalf("never ready:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := http.Get("http://" + httpAddr + "/realms/jan/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Issuer string }
	json.NewDecoder(res.Body).Decode(&doc)
	res.Body.Close()
	if doc.Issuer != "http://localhost:8085/realms/jan" {
		t.Errorf("issuer %q, want KC_HOSTNAME's", doc.Issuer)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
}
