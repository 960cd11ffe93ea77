package stack

import (
	"context"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

func testFiles(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := Files(KongConfig{Upstream: UpstreamURL("127.0.0.1:8080"), GatewaySecret: "gw-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func convertProfile(t *testing.T, profile Profile, env map[string]string) map[string]Container {
	t.Helper()
	p, err := Load(context.Background(), profile, env)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Convert(p, testFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Container{}
	for i, c := range cs {
		if c.Service != p.Services[i].Name {
			t.Fatalf("Convert changed the start order at %d: %s", i, c.Service)
		}
		out[c.Service] = c
	}
	return out
}

func TestConvertStack(t *testing.T) {
	t.Parallel()
	gpu := convertProfile(t, ProfileGPU, testEnv())
	cpu := convertProfile(t, ProfileCPU, testEnv())
	for _, tc := range []struct {
		name  string
		check func(t *testing.T)
	}{
		{"every container labelled and pinned", func(t *testing.T) {
			for _, set := range []map[string]Container{gpu, cpu} {
				for name, c := range set {
					if c.Labels[LabelProject] != "jan" || c.Labels[LabelService] != name || c.Labels[LabelOwner] != "true" || len(c.Labels[LabelConfigHash]) != 64 {
						t.Errorf("%s labels = %v", name, c.Labels)
					}
					if c.Name != "jan-"+name {
						t.Errorf("%s container name = %s", name, c.Name)
					}
					if tag := imageTag(c.Image); tag == "" || tag == "latest" {
						t.Errorf("%s image %s is not pinned", name, c.Image)
					}
					if c.Health == nil || len(c.Health.Test) == 0 || c.Health.Budget() <= 0 {
						t.Errorf("%s has no healthcheck", name)
					}
				}
			}
		}},
		{"only kong publishes on every interface", func(t *testing.T) {
			for name, c := range cpu {
				for _, p := range c.Ports {
					public := p.HostIP == "" || p.HostIP == "0.0.0.0"
					if public != (name == ServiceKong) {
						t.Errorf("%s publishes %+v", name, p)
					}
				}
			}
			if p := cpu[ServiceKong].Ports; len(p) != 1 || p[0].HostPort != "8000" || p[0].ContainerPort != 8000 {
				t.Errorf("kong ports = %+v", p)
			}
			if p := cpu[ServiceKeycloak].Ports; len(p) != 1 || p[0].HostPort != "8085" {
				t.Errorf("keycloak ports = %+v", p)
			}
		}},
		{"gpu reservation only on vllm-llama", func(t *testing.T) {
			g := gpu[ServiceVLLMGPU].GPUs
			if len(g) != 1 || g[0].Driver != "nvidia" || g[0].Count != -1 || strings.Join(g[0].Capabilities, ",") != "gpu" {
				t.Errorf("vllm-llama GPUs = %+v", g)
			}
			if len(cpu[ServiceVLLMCPU].GPUs) != 0 {
				t.Errorf("vllm-cpu asks for a GPU")
			}
		}},
		{"volumes are project scoped", func(t *testing.T) {
			want := map[string]string{ServiceAPIDB: "jan_api-db-data", ServiceKeycloakDB: "jan_keycloak-db-data", ServiceVLLMCPU: "jan_hf-cache"}
			for svc, vol := range want {
				if v := cpu[svc].Volumes; len(v) != 1 || v[0].Volume != vol {
					t.Errorf("%s volumes = %+v, want %s", svc, v, vol)
				}
			}
		}},
		{"keycloak waits for its database", func(t *testing.T) {
			d := cpu[ServiceKeycloak].DependsOn
			if len(d) != 1 || d[0].Service != ServiceKeycloakDB || d[0].Condition != "service_healthy" {
				t.Errorf("keycloak depends_on = %+v", d)
			}
		}},
		{"kong reaches the host and gets its rendered config", func(t *testing.T) {
			k := cpu[ServiceKong]
			if strings.Join(k.ExtraHosts, " ") != "host.docker.internal:host-gateway" {
				t.Errorf("kong extra_hosts = %v", k.ExtraHosts)
			}
			if len(k.Files) != 1 || k.Files[0].Target != "/kong/kong.yml" || !strings.Contains(string(k.Files[0].Content), "gw-secret") {
				t.Errorf("kong files = %+v", k.Files)
			}
			for _, e := range k.Env {
				if strings.Contains(e, "gw-secret") {
					t.Errorf("gateway secret in kong's environment: %s", e)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t) })
	}
}

func TestConfigHash(t *testing.T) {
	t.Parallel()
	base := convertProfile(t, ProfileCPU, testEnv())
	for _, tc := range []struct {
		name    string
		env     []string
		changed []string // services whose hash must change; all others must not
	}{
		{"same input", nil, nil},
		{"image override", []string{"JAN_IMAGE_KONG", "kong:3.9.0"}, []string{ServiceKong}},
		{"model", []string{"VLLM_MODEL", "org/other"}, []string{ServiceVLLMCPU}},
		{"db password", []string{"KEYCLOAK_DB_PASSWORD", "other"}, []string{ServiceKeycloakDB, ServiceKeycloak}},
		{"port", []string{"JAN_API_DB_PORT", "15432"}, []string{ServiceAPIDB}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := convertProfile(t, ProfileCPU, testEnv(tc.env...))
			changed := map[string]bool{}
			for _, s := range tc.changed {
				changed[s] = true
			}
			for name, c := range got {
				differs := c.Labels[LabelConfigHash] != base[name].Labels[LabelConfigHash]
				if differs != changed[name] {
					t.Errorf("%s: hash changed = %v, want %v", name, differs, changed[name])
				}
			}
		})
	}

	// A different gateway secret changes kong.yml, so Kong is recreated.
	p, _ := Load(context.Background(), ProfileCPU, testEnv())
	files, err := Files(KongConfig{Upstream: UpstreamURL(":8080"), GatewaySecret: "rotated"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Convert(p, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		differs := c.Labels[LabelConfigHash] != base[c.Service].Labels[LabelConfigHash]
		if differs != (c.Service == ServiceKong) {
			t.Errorf("rotated gateway secret: %s hash changed = %v", c.Service, differs)
		}
	}
}

func TestConvertRejects(t *testing.T) {
	t.Parallel()
	const head = "services:\n  web:\n    image: nginx:1.27\n"
	for _, tc := range []struct {
		name, service, want string
	}{
		{"privileged", "    privileged: true\n", "service web: unsupported compose key privileged"},
		{"build", "    build: .\n", "service web: unsupported compose key build"},
		{"two unknown keys", "    cap_add: [NET_ADMIN]\n    working_dir: /x\n", "unsupported compose key cap_add, working_dir"},
		{"bind mount", "    volumes: [\"/etc:/host-etc\"]\n", "service web: volumes: bind mounts are not supported"},
		{"deploy limits", "    deploy:\n      resources:\n        limits:\n          memory: 1g\n", "service web: deploy: only resources.reservations.devices"},
		{"replicas", "    deploy:\n      replicas: 2\n", "service web: deploy:"},
		{"port range", "    ports: [\"8000-8001:80\"]\n", "service web: ports:"},
		{"network", "    networks: [other]\nnetworks:\n  other: {}\n", "service web: networks:"},
		{"healthy without healthcheck", "    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: postgres:17\n", "no healthcheck"},
		{"config without content", "    configs: [x]\nconfigs:\n  x:\n    file: ./x\n", "no content for config \"x\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := LoadBytes(context.Background(), []byte(head+tc.service), ProfileCPU, nil)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			_, err = Convert(p, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, image := range []string{"nginx", "nginx:latest", "registry:5000/nginx"} {
		p, err := LoadBytes(context.Background(), []byte("services:\n  web:\n    image: "+image+"\n"), ProfileCPU, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Convert(p, nil); err == nil || !strings.Contains(err.Error(), "not pinned") {
			t.Errorf("image %s: err = %v, want not pinned", image, err)
		}
	}
}

func TestRenderKong(t *testing.T) {
	t.Parallel()
	out, err := RenderKong(KongConfig{Upstream: "http://host.docker.internal:9090", GatewaySecret: "s3cr:et", CORSOrigins: []string{"http://localhost:3000", "https://app.example"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services []struct {
			URL string `yaml:"url"`
		} `yaml:"services"`
		Consumers []struct {
			Username string `yaml:"username"`
		} `yaml:"consumers"`
		Plugins []struct {
			Name   string         `yaml:"name"`
			Config map[string]any `yaml:"config"`
		} `yaml:"plugins"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("rendered kong.yml is not YAML: %v\n%s", err, out)
	}
	if len(doc.Services) != 1 || doc.Services[0].URL != "http://host.docker.internal:9090" {
		t.Errorf("services = %+v", doc.Services)
	}
	plugins := map[string]map[string]any{}
	for _, p := range doc.Plugins {
		plugins[p.Name] = p.Config
	}
	if plugins["key-auth"]["anonymous"] != "anonymous" || len(doc.Consumers) != 1 || doc.Consumers[0].Username != "anonymous" {
		t.Errorf("key-auth without the anonymous fallback: %v %v", plugins["key-auth"], doc.Consumers)
	}
	if o, _ := plugins["cors"]["origins"].([]any); len(o) != 2 || o[1] != "https://app.example" {
		t.Errorf("cors origins = %v", plugins["cors"]["origins"])
	}
	add, _ := plugins["request-transformer"]["add"].(map[string]any)
	if h, _ := add["headers"].([]any); len(h) != 1 || h[0] != "X-Jan-Gateway-Secret:s3cr:et" {
		t.Errorf("request-transformer add = %v", add)
	}

	for _, bad := range []KongConfig{{GatewaySecret: "x"}, {Upstream: "http://h:1"}, {Upstream: "http://h:1", GatewaySecret: "a\nb"}} {
		if _, err := RenderKong(bad); err == nil {
			t.Errorf("RenderKong(%+v) succeeded", bad)
		}
	}
}

func TestUpstreamURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://host.docker.internal:8080",
		":9000":          "http://host.docker.internal:9000",
		"[::1]:8081":     "http://host.docker.internal:8081",
	} {
		if got := UpstreamURL(addr); got != want {
			t.Errorf("UpstreamURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
