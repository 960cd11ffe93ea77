package stack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
)

// Every port compose.yaml publishes has a --publish name and variable, and
// moving one through its variable moves it.
func TestPortSettingsMatchCompose(t *testing.T) {
	t.Parallel()
	for _, profile := range []Profile{ProfileGPU, ProfileCPU} {
		for _, c := range convertProfile(t, profile, testEnv()) {
			for _, p := range c.Ports {
				ps, ok := PortSettingFor(c.Service, p.ContainerPort)
				if !ok {
					t.Fatalf("%s publishes %d, but PortSettings has no entry for it", c.Service, p.ContainerPort)
				}
				if p.HostPort != ps.Default {
					t.Errorf("%s:%d defaults to host port %s, PortSettings says %s", c.Service, p.ContainerPort, p.HostPort, ps.Default)
				}
				moved := convertProfile(t, profile, testEnv(ps.Env, "19999"))[c.Service]
				found := false
				for _, mp := range moved.Ports {
					found = found || (mp.ContainerPort == p.ContainerPort && mp.HostPort == "19999")
				}
				if !found {
					t.Errorf("%s=19999 did not move %s:%d (ports %v)", ps.Env, c.Service, p.ContainerPort, moved.Ports)
				}
			}
		}
	}
}

// The Engine API form carries what the compose file says: ports on their
// host IPs, named volumes, the GPU device request, the healthcheck, the
// network alias, the labels.
func TestCreateOptions(t *testing.T) {
	t.Parallel()
	gpu := convertProfile(t, ProfileGPU, testEnv())
	o, err := CreateOptions(gpu[ServiceVLLMGPU])
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "jan-vllm-llama" || o.Config.Image == "" || o.Config.Labels[LabelConfigHash] == "" {
		t.Fatalf("name/image/labels: %+v", o)
	}
	dr := o.HostConfig.DeviceRequests
	if len(dr) != 1 || dr[0].Driver != "nvidia" || dr[0].Count != -1 || len(dr[0].Capabilities) != 1 || dr[0].Capabilities[0][0] != "gpu" {
		t.Errorf("device requests = %+v, want nvidia, all, [[gpu]]", dr)
	}
	b := o.HostConfig.PortBindings[network.MustParsePort("8000/tcp")]
	if len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" || b[0].HostPort != "8001" {
		t.Errorf("port bindings = %+v", b)
	}
	if o.HostConfig.IpcMode != "host" || len(o.HostConfig.Mounts) != 1 || o.HostConfig.Mounts[0].Source != "jan_hf-cache" {
		t.Errorf("ipc %q mounts %+v", o.HostConfig.IpcMode, o.HostConfig.Mounts)
	}
	if o.Config.Healthcheck == nil || o.Config.Healthcheck.Test[0] != "CMD" || o.Config.Healthcheck.Retries != 360 {
		t.Errorf("healthcheck = %+v", o.Config.Healthcheck)
	}
	if a := o.NetworkingConfig.EndpointsConfig[NetworkName(DefaultProject)]; a == nil || a.Aliases[0] != ServiceVLLMGPU {
		t.Errorf("network endpoint = %+v", o.NetworkingConfig.EndpointsConfig)
	}
	kong, err := CreateOptions(gpu[ServiceKong])
	if err != nil {
		t.Fatal(err)
	}
	kb := kong.HostConfig.PortBindings[network.MustParsePort("8000/tcp")]
	if len(kb) != 1 || kb[0].HostIP.IsValid() {
		t.Errorf("Kong binds %+v, want all interfaces", kb)
	}
	if kong.HostConfig.RestartPolicy.Name != "unless-stopped" || len(kong.HostConfig.ExtraHosts) != 1 {
		t.Errorf("restart %q extra hosts %v", kong.HostConfig.RestartPolicy.Name, kong.HostConfig.ExtraHosts)
	}
}

// Config files land at their targets with their parents and modes.
func TestFilesTar(t *testing.T) {
	t.Parallel()
	data, err := filesTar([]File{
		{Target: "/opt/keycloak/data/import/realm-jan.json", Mode: 0o444, Content: []byte("{}")},
		{Target: "/kong/kong.yml", Mode: 0o440, Content: []byte("x: 1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "kong/kong.yml" {
			body, _ := io.ReadAll(tr)
			if string(body) != "x: 1" || h.Mode != 0o440 {
				t.Errorf("kong.yml: %q mode %o", body, h.Mode)
			}
		}
	}
	want := "kong/ kong/kong.yml opt/ opt/keycloak/ opt/keycloak/data/ opt/keycloak/data/import/ opt/keycloak/data/import/realm-jan.json"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries:\n got %s\nwant %s", got, want)
	}
}

// The plan wires the server to the stack: its Postgres with the generated
// password, Keycloak, the collector, vLLM through a providers file whose key
// stays a reference.
func TestPlanServerEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := NewPlan(context.Background(), Settings{DataDir: dir, Profile: ProfileCPU, ServerAddr: "127.0.0.1:8080",
		Env: map[string]string{"JAN_API_DB_PORT": "15432"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Model != "jan-v1-4b" {
		t.Errorf("model = %q", p.Model)
	}
	path, err := p.WriteProviders(dir)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(path)
	if strings.Contains(string(body), p.Secrets.Get(SecretVLLMInternalKey)) || !strings.Contains(string(body), "${VLLM_INTERNAL_KEY}") {
		t.Errorf("providers file holds the key itself, or no reference to it:\n%s", body)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("providers file mode %o", fi.Mode().Perm())
	}
	env := p.ServerEnv(path)
	u, err := url.Parse(env["JAN_DB"])
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	if u.Host != "127.0.0.1:15432" || u.User.Username() != "jan_user" || pw != p.Secrets.Get(SecretPostgresPassword) || u.Path != "/jan_llm_api" {
		t.Errorf("JAN_DB = %s", env["JAN_DB"])
	}
	for k, want := range map[string]string{
		"KEYCLOAK_BASE_URL":           "http://localhost:8085",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
		"JAN_PROVIDERS":               path,
		"JAN_GATEWAY_SECRET":          p.Secrets.Get(SecretGatewaySecret),
		"BACKEND_CLIENT_SECRET":       p.Secrets.Get(SecretBackendClientSecret),
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	// Kong's config carries the same gateway secret.
	kong, _ := p.Container(ServiceKong)
	if !bytes.Contains(kong.Files[0].Content, []byte(p.Secrets.Get(SecretGatewaySecret))) {
		t.Error("kong.yml does not carry the gateway secret")
	}
	if _, err := os.Stat(filepath.Join(dir, SecretsFile)); err != nil {
		t.Errorf("secrets file: %v", err)
	}
}
