package stack

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// testEnv is what jan up passes after secrets are generated.
func testEnv(extra ...string) map[string]string {
	env := map[string]string{
		"POSTGRES_PASSWORD":       "pg-secret",
		"KEYCLOAK_DB_PASSWORD":    "kcdb-secret",
		"KEYCLOAK_ADMIN_PASSWORD": "kc-admin-secret",
		"BACKEND_CLIENT_SECRET":   "backend-secret",
		"VLLM_INTERNAL_KEY":       "vllm-key",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func TestLoadProfiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile Profile
		want    []string
	}{
		{ProfileGPU, []string{"api-db", "keycloak-db", "keycloak", "kong", "otel-collector", "vllm-llama"}},
		{ProfileCPU, []string{"api-db", "keycloak-db", "keycloak", "kong", "otel-collector", "vllm-cpu"}},
	} {
		t.Run(string(tc.profile), func(t *testing.T) {
			t.Parallel()
			p, err := Load(context.Background(), tc.profile, testEnv())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Names(), " "); got != strings.Join(tc.want, " ") {
				t.Fatalf("services in start order = %s, want %s", got, strings.Join(tc.want, " "))
			}
		})
	}
}

func TestLoadInterpolation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		profile Profile
		env     []string
		service string
		check   func(t *testing.T, p *Project)
	}{
		{"gpu model default", ProfileGPU, nil, ServiceVLLMGPU, func(t *testing.T, p *Project) {
			s, _ := p.Service(ServiceVLLMGPU)
			wantArgs(t, s.Command, "--model=Qwen/Qwen2.5-3B-Instruct-AWQ", "--gpu-memory-utilization=0.66")
		}},
		{"cpu model default", ProfileCPU, nil, ServiceVLLMCPU, func(t *testing.T, p *Project) {
			s, _ := p.Service(ServiceVLLMCPU)
			wantArgs(t, s.Command, "--model=janhq/Jan-v1-4B")
		}},
		{"vllm settings from env", ProfileGPU, []string{"VLLM_MODEL", "org/m", "VLLM_SERVED_NAME", "m", "VLLM_GPU_UTIL", "0.9", "VLLM_MAX_LEN", "4096"}, ServiceVLLMGPU, func(t *testing.T, p *Project) {
			s, _ := p.Service(ServiceVLLMGPU)
			wantArgs(t, s.Command, "--model=org/m", "--served-model-name=m", "--gpu-memory-utilization=0.9", "--max-model-len=4096")
		}},
		{"image override", ProfileCPU, []string{"JAN_IMAGE_API_DB", "mirror.local/pg:1", "JAN_IMAGE_VLLM_CPU", "fake-vllm:test"}, "", func(t *testing.T, p *Project) {
			if s, _ := p.Service(ServiceAPIDB); s.Image != "mirror.local/pg:1" {
				t.Errorf("api-db image = %s", s.Image)
			}
			if s, _ := p.Service(ServiceVLLMCPU); s.Image != "fake-vllm:test" {
				t.Errorf("vllm-cpu image = %s", s.Image)
			}
		}},
		{"port overrides", ProfileCPU, []string{"JAN_GATEWAY_PORT", "18000", "JAN_KEYCLOAK_PORT", "18085"}, "", func(t *testing.T, p *Project) {
			if s, _ := p.Service(ServiceKong); s.Ports[0].Published != "18000" || s.Ports[0].HostIP != "" {
				t.Errorf("kong port = %+v", s.Ports[0])
			}
			if s, _ := p.Service(ServiceKeycloak); s.Ports[0].Published != "18085" || s.Ports[0].HostIP != "127.0.0.1" {
				t.Errorf("keycloak port = %+v", s.Ports[0])
			}
		}},
		{"secrets reach the services", ProfileCPU, nil, "", func(t *testing.T, p *Project) {
			s, _ := p.Service(ServiceAPIDB)
			if v := s.Environment["POSTGRES_PASSWORD"]; v == nil || *v != "pg-secret" {
				t.Errorf("api-db POSTGRES_PASSWORD not interpolated")
			}
			s, _ = p.Service(ServiceKeycloak)
			if v := s.Environment["BACKEND_CLIENT_SECRET"]; v == nil || *v != "backend-secret" {
				t.Errorf("keycloak BACKEND_CLIENT_SECRET not interpolated")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testEnv(tc.env...)
			p, err := Load(context.Background(), tc.profile, env)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func wantArgs(t *testing.T, got []string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, a := range got {
		have[a] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("command %q lacks %q", got, w)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		compose string
		profile Profile
		env     map[string]string
		want    string
	}{
		{"missing secret", "", ProfileCPU, map[string]string{}, "POSTGRES_PASSWORD"},
		{"bad profile", "", Profile("tpu"), testEnv(), `unknown profile "tpu"`},
		{"cycle", "services:\n  a:\n    image: x:1\n    depends_on: [b]\n  b:\n    image: x:1\n    depends_on: [a]\n", ProfileCPU, nil, "dependency cycle"},
		{"not yaml", "services: [", ProfileCPU, nil, "compose file"},
		{"no services", "services:\n  a:\n    image: x:1\n    profiles: [gpu]\n", ProfileCPU, nil, "no services for profile cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tc.compose == "" {
				_, err = Load(context.Background(), tc.profile, tc.env)
			} else {
				_, err = LoadBytes(context.Background(), []byte(tc.compose), tc.profile, tc.env)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// compose-go refuses cycles first; dependencyOrder's own check is the
// backstop for projects built in code.
func TestDependencyOrderCycle(t *testing.T) {
	t.Parallel()
	svc := func(name, dep string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		if dep != "" {
			s.DependsOn = types.DependsOnConfig{dep: {Condition: "service_started", Required: true}}
		}
		return s
	}
	svcs := types.Services{"a": svc("a", "b"), "b": svc("b", "a"), "c": svc("c", "")}
	_, err := dependencyOrder(svcs)
	if !errors.Is(err, errCycle) || !strings.Contains(err.Error(), "among a, b") {
		t.Fatalf("err = %v", err)
	}
}

func TestImageEnv(t *testing.T) {
	t.Parallel()
	for svc, want := range map[string]string{
		"api-db": "JAN_IMAGE_API_DB", "vllm-cpu": "JAN_IMAGE_VLLM_CPU", "otel-collector": "JAN_IMAGE_OTEL_COLLECTOR", "kong": "JAN_IMAGE_KONG",
	} {
		if got := ImageEnv(svc); got != want {
			t.Errorf("ImageEnv(%s) = %s, want %s", svc, got, want)
		}
	}
}
