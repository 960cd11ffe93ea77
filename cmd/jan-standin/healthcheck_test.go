package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/stack"
)

// composeEnv is what jan up passes compose.yaml after generating secrets.
func composeEnv() map[string]string {
	return map[string]string{
		"POSTGRES_PASSWORD":       "pg-secret",
		"KEYCLOAK_DB_PASSWORD":    "kcdb-secret",
		"KEYCLOAK_ADMIN_PASSWORD": "kc-admin-secret",
		"BACKEND_CLIENT_SECRET":   "backend-secret",
		"VLLM_INTERNAL_KEY":       "vllm-key",
	}
}

// composeService is a service of the embedded compose.yaml as jan runs it.
func composeService(t *testing.T, profile stack.Profile, name string) stack.Container {
	t.Helper()
	p, err := stack.Load(context.Background(), profile, composeEnv())
	if err != nil {
		t.Fatal(err)
	}
	files, err := stack.Files(stack.KongConfig{Upstream: "http://host.docker.internal:8080", GatewaySecret: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := stack.Convert(p, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Service == name {
			return c
		}
	}
	t.Fatalf("no service %s in compose.yaml (profile %s)", name, profile)
	return stack.Container{}
}

// healthcheck is a service's healthcheck command without the CMD marker.
func healthcheck(t *testing.T, profile stack.Profile, name string) []string {
	t.Helper()
	c := composeService(t, profile, name)
	if c.Health == nil || len(c.Health.Test) < 2 || c.Health.Test[0] != "CMD" {
		t.Fatalf("%s: healthcheck %v is not a CMD healthcheck", name, c.Health)
	}
	return c.Health.Test[1:]
}

func statusServer(t *testing.T, path string, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPythonHealthcheckOfVLLM(t *testing.T) {
	t.Parallel()
	for _, profile := range []stack.Profile{stack.ProfileCPU, stack.ProfileGPU} {
		svc := stack.ServiceVLLMCPU
		if profile == stack.ProfileGPU {
			svc = stack.ServiceVLLMGPU
		}
		cmd := healthcheck(t, profile, svc)
		if cmd[0] != "python3" {
			t.Fatalf("%s healthcheck runs %q, not python3", svc, cmd[0])
		}
		c, err := parsePythonArgs(cmd[1:])
		if err != nil {
			t.Fatal(err)
		}
		if c.url != "http://127.0.0.1:8000/health" || c.timeout != 4*time.Second {
			t.Errorf("%s: parsed %+v, want GET http://127.0.0.1:8000/health within 4s", svc, c)
		}
	}

	for _, tc := range []struct {
		status int
		ok     bool
	}{{200, true}, {204, true}, {401, false}, {503, false}} {
		srv := statusServer(t, "/health", tc.status)
		err := urlCheck{url: srv.URL + "/health", timeout: time.Second}.run(context.Background())
		if (err == nil) != tc.ok {
			t.Errorf("status %d: err = %v, want ok=%v", tc.status, err, tc.ok)
		}
	}
	if err := (urlCheck{url: "http://127.0.0.1:1/health", timeout: time.Second}).run(context.Background()); err == nil {
		t.Error("a closed port passed the check")
	}
}

func TestPythonRefusesOtherPrograms(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"script.py"},
		{"-m", "http.server"},
		{"-c", "print('no url here')"},
		{"-c", "urlopen('http://x/health', timeout=-1)"},
	} {
		var stderr bytes.Buffer
		if code := runPython(context.Background(), proc{args: args, stdout: &stderr, stderr: &stderr}); code != 2 {
			t.Errorf("python3 %q: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

func TestBashHealthcheckOfKeycloak(t *testing.T) {
	t.Parallel()
	cmd := healthcheck(t, stack.ProfileCPU, stack.ServiceKeycloak)
	if cmd[0] != "bash" {
		t.Fatalf("keycloak healthcheck runs %q, not bash", cmd[0])
	}
	probe, err := parseBashArgs(cmd[1:])
	if err != nil {
		t.Fatal(err)
	}
	if probe.addr != "127.0.0.1:9000" {
		t.Errorf("addr = %q, want 127.0.0.1:9000", probe.addr)
	}
	if want := "GET /health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n"; string(probe.send) != want {
		t.Errorf("request = %q, want %q", probe.send, want)
	}

	for _, tc := range []struct {
		status int
		ok     bool
	}{{200, true}, {503, false}, {404, false}} {
		srv := statusServer(t, "/health/ready", tc.status)
		p := probe
		p.addr = strings.TrimPrefix(srv.URL, "http://")
		if err := p.run(context.Background(), 2*time.Second); (err == nil) != tc.ok {
			t.Errorf("status %d: err = %v, want ok=%v", tc.status, err, tc.ok)
		}
	}
	p := probe
	p.addr = "127.0.0.1:1"
	if err := p.run(context.Background(), time.Second); err == nil {
		t.Error("a closed port passed the check")
	}
}

func TestBashScripts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		addr   string // "" = refused
		send   string
	}{
		{`exec 5<>/dev/tcp/localhost/8080 && printf "HEAD / HTTP/1.0\r\n\r\n" 1>&5 && grep -q 'HTTP/1.[01] 200' 0<&5`,
			"localhost:8080", "HEAD / HTTP/1.0\r\n\r\n"},
		{`exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'a%%b' >&3 && grep -q x <&3`, "127.0.0.1:9000", "a%b"},
		{`ls /`, "", ""},
		{`curl -f http://localhost:9000/health/ready`, "", ""},
		{`exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'x' >&4 && grep -q ok <&3`, "", ""},       // another fd
		{`exec 3<>/dev/tcp/127.0.0.1/9000 && printf '%s' >&3 && grep -q ok <&3`, "", ""},      // a conversion
		{`exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'x' >&3 && grep -q ok <&3 | cat`, "", ""}, // a pipe
		{`exec 3<>/dev/tcp/$HOST/9000 && printf 'x' >&3 && grep -q ok <&3`, "", ""},
		{`exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'x >&3`, "", ""},
	} {
		p, err := parseProbeScript(tc.script)
		if tc.addr == "" {
			if err == nil {
				t.Errorf("%s: accepted", tc.script)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.script, err)
			continue
		}
		if p.addr != tc.addr || string(p.send) != tc.send {
			t.Errorf("%s: parsed %s %q, want %s %q", tc.script, p.addr, p.send, tc.addr, tc.send)
		}
	}
	// grep's basic regexps: ( and + are literal.
	p, err := parseProbeScript(`exec 3<>/dev/tcp/h/1 && printf x >&3 && grep -q 'a(b)+' <&3`)
	if err != nil || !p.pattern.MatchString("xa(b)+y") || p.pattern.MatchString("abb") {
		t.Errorf("basic regexp: %v, %v", p.pattern, err)
	}

	var stderr bytes.Buffer
	if code := runBash(context.Background(), proc{args: []string{"-c", "rm -rf /"}, stdout: &stderr, stderr: &stderr}); code != 2 ||
		!strings.Contains(stderr.String(), "stand-in bash only runs healthchecks") {
		t.Errorf("bash -c 'rm -rf /': exit %d, %q", code, stderr.String())
	}
}

func TestKongHealthcheckIsKongHealth(t *testing.T) {
	t.Parallel()
	if cmd := healthcheck(t, stack.ProfileCPU, stack.ServiceKong); strings.Join(cmd, " ") != "kong health" {
		t.Fatalf("kong healthcheck is %q; the stand-in implements kong health", cmd)
	}
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		argv []string
		code int
		out  string
	}{
		{[]string{"/usr/local/bin/jan-standin", "kong", "version"}, 0, "Kong " + kongVersion},
		{[]string{"kong", "version"}, 0, "Kong " + kongVersion},
		{[]string{"/bin/sh", "-c", "true"}, 2, "no personality \"sh\""},
		{[]string{"jan-standin"}, 2, "usage:"},
		{nil, 2, "usage:"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tc.argv, func(string) string { return "" }, &out, &out)
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%q: exit %d, %q; want %d, %q", tc.argv, code, out.String(), tc.code, tc.out)
		}
	}
}

func TestURLScriptForms(t *testing.T) {
	t.Parallel()
	c, err := parsePythonArgs([]string{"-c", `import urllib.request as u; u.urlopen("https://example.test:8443/ready?x=1")`})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(c.url); u.Host != "example.test:8443" || u.RawQuery != "x=1" || c.timeout != 30*time.Second {
		t.Errorf("parsed %+v", c)
	}
}

// freeAddr is a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
