package stacktest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/janhq/jan/internal/stack"
)

// Each stand-in runs from its image with compose.yaml's own command,
// environment and healthcheck; Docker reporting it healthy is the proof
// that the healthcheck personalities (python3, bash, kong health,
// --version) work inside a FROM scratch image.

func get(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestVLLMStandIn(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	imgs := standIns(t, cli)
	for _, tc := range []struct {
		profile stack.Profile
		service string
		served  string
	}{
		{stack.ProfileCPU, stack.ServiceVLLMCPU, "jan-v1-4b"},
		{stack.ProfileGPU, stack.ServiceVLLMGPU, "qwen2.5-3b-instruct-awq"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			t.Parallel()
			c := composeContainer(t, imgs, tc.profile, tc.service, stack.KongConfig{})
			c.GPUs = nil // the stand-in needs none
			base := "http://" + startHealthy(t, cli, c).ports[8000]

			if status, _ := get(t, base+"/health", nil); status != 200 {
				t.Errorf("/health without a key: %d", status)
			}
			if status, body := get(t, base+"/v1/models", nil); status != 401 {
				t.Errorf("/v1/models without the key: %d %s", status, body)
			}
			status, body := get(t, base+"/v1/models", map[string]string{"Authorization": "Bearer " + secrets["VLLM_INTERNAL_KEY"]})
			var models struct{ Data []struct{ ID string } }
			if status != 200 || json.Unmarshal([]byte(body), &models) != nil || len(models.Data) != 1 || models.Data[0].ID != tc.served {
				t.Errorf("/v1/models with the key: %d %s, want only %s", status, body, tc.served)
			}
		})
	}
}

func TestKeycloakStandIn(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	imgs := standIns(t, cli)
	c := composeContainer(t, imgs, stack.ProfileCPU, stack.ServiceKeycloak, stack.KongConfig{})
	// Alone, without keycloak-db: the double keeps nothing (keeping its
	// data there is TestStackKeepsIdentitiesAcrossDownUp's).
	c.Env = slices.DeleteFunc(c.Env, func(kv string) bool { return strings.HasPrefix(kv, "KC_DB") })
	base := "http://" + startHealthy(t, cli, c).ports[8085]

	status, body := get(t, base+"/realms/jan/.well-known/openid-configuration", nil)
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatalf("discovery: %d %s", status, body)
	}
	// KC_HOSTNAME names the issuer, whatever port the test reached.
	if doc.Issuer != "http://localhost:8085/realms/jan" {
		t.Errorf("issuer %q, want KC_HOSTNAME's http://localhost:8085/realms/jan", doc.Issuer)
	}
	// The realm's ${BACKEND_CLIENT_SECRET} came from the environment.
	res, err := http.PostForm(base+"/realms/jan/protocol/openid-connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"backend"}, "client_secret": {secrets["BACKEND_CLIENT_SECRET"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.NewDecoder(res.Body).Decode(&tok); res.StatusCode != 200 || tok.AccessToken == "" {
		t.Errorf("client_credentials with BACKEND_CLIENT_SECRET: %s", res.Status)
	}
}

func TestKongStandIn(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	imgs := standIns(t, cli)

	// llm-api's stand-in on the host, reached through host-gateway.
	var mu sync.Mutex
	var seen []http.Header
	next := make(chan struct{})
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" {
			io.WriteString(w, "hello from the host")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-next: // the client has read the previous event
				case <-time.After(10 * time.Second):
					return
				}
			}
			io.WriteString(w, "data: "+strconv.Itoa(i)+"\n\n")
			http.NewResponseController(w).Flush()
		}
	}))
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	up.Listener = ln
	up.Start()
	t.Cleanup(up.Close)
	port := ln.Addr().(*net.TCPAddr).Port

	c := composeContainer(t, imgs, stack.ProfileCPU, stack.ServiceKong,
		stack.KongConfig{Upstream: stack.UpstreamURL(":" + strconv.Itoa(port)), GatewaySecret: "gw-secret"})
	r := startHealthy(t, cli, c)
	base := "http://" + r.ports[8000]

	status, body := get(t, base+"/v1/models", map[string]string{"X-Jan-Gateway-Secret": "forged", "apikey": "nope"})
	if status != 200 || body != "hello from the host" {
		t.Fatalf("through kong: %d %q", status, body)
	}
	mu.Lock()
	h := seen[len(seen)-1]
	mu.Unlock()
	for name, want := range map[string]string{
		"X-Jan-Gateway-Secret": "gw-secret",
		"X-Consumer-Username":  "anonymous",
		"X-Consumer-Custom-Id": "anonymous",
		"X-Anonymous-Consumer": "true",
		"Apikey":               "",
	} {
		if got := strings.Join(h.Values(name), ","); got != want {
			t.Errorf("upstream %s = %q, want %q", name, got, want)
		}
	}
	if h.Get("X-Consumer-Id") == "" {
		t.Error("upstream got no X-Consumer-ID")
	}

	res, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	for i := range 3 {
		line, err := rd.ReadString('\n')
		if err != nil || line != "data: "+strconv.Itoa(i)+"\n" {
			t.Fatalf("event %d: %q, %v (kong buffered the stream?); kong's output:\n%s", i, line, err, logs(t, cli, r.id))
		}
		rd.ReadString('\n')
		if i < 2 {
			select {
			case next <- struct{}{}:
			case <-time.After(10 * time.Second):
				t.Fatalf("the upstream gave up after event %d: the stream arrived late", i)
			}
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs(t, cli, r.id), `"GET /v1/models HTTP/1.1" 200`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line on stdout:\n%s", logs(t, cli, r.id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The real collector (tools/otelcol) runs compose.yaml's service with the
// shipped config, answers its healthcheck, and its debug exporter prints
// the spans it receives.
func TestOtelCollectorImage(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	imgs := standIns(t, cli)
	c := composeContainer(t, imgs, stack.ProfileCPU, stack.ServiceOtelCollector, stack.KongConfig{})
	r := startHealthy(t, cli, c)

	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(r.ports[4318]), otlptracehttp.WithInsecure(),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "stacktest"))))
	tracer := tp.Tracer("stacktest")
	for range 3 {
		_, span := tracer.Start(ctx, "work")
		span.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(logs(t, cli, r.id), `"otelcol.signal": "traces", "resource spans": 1, "spans": 3`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the collector's debug output has no 3 spans:\n%s", logs(t, cli, r.id))
		}
	}
	if conn, err := net.DialTimeout("tcp", r.ports[4317], 5*time.Second); err != nil {
		t.Errorf("gRPC port: %v", err)
	} else {
		conn.Close()
	}
}

// Images' Postgres rule: present, or skip/fail naming the script.
func TestImagesNamesThePostgresScript(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	var imgs StandIns
	t.Run("images", func(t *testing.T) { imgs = Images(t, cli) })
	if imgs.Postgres == "" {
		return // skipped (the message names the script) or failed
	}
	env := imgs.Env()
	for _, k := range []string{"JAN_IMAGE_KONG", "JAN_IMAGE_KEYCLOAK", "JAN_IMAGE_OTEL_COLLECTOR", "JAN_IMAGE_VLLM_CPU", "JAN_IMAGE_VLLM_LLAMA"} {
		if !strings.HasPrefix(env[k], "jan-test/") {
			t.Errorf("%s = %q", k, env[k])
		}
	}
	if env["JAN_IMAGE_API_DB"] != PostgresImage || env["JAN_IMAGE_KEYCLOAK_DB"] != PostgresImage {
		t.Errorf("postgres env: %v", env)
	}
}
