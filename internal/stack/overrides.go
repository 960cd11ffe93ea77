package stack

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Services are the stack's services, as jan logs and --image name them.
var Services = []string{ServiceAPIDB, ServiceKeycloakDB, ServiceKeycloak, ServiceKong, ServiceOtelCollector, ServiceVLLMGPU, ServiceVLLMCPU}

// IsService reports whether name is one of Services.
func IsService(name string) bool { return slices.Contains(Services, name) }

// Overrides applies the --image SERVICE=REF and --publish NAME=PORT flags
// to env, the environment compose.yaml is interpolated with. Errors name
// the flag and what it takes.
func Overrides(env map[string]string, images, publish []string) error {
	for _, kv := range images {
		svc, ref, ok := strings.Cut(kv, "=")
		if !ok || svc == "" || ref == "" {
			return fmt.Errorf("--image %q: want SERVICE=REF, e.g. --image kong=mirror.local/kong:3.9.1", kv)
		}
		if !IsService(svc) {
			return fmt.Errorf("--image %q: no service %q (services: %s)", kv, svc, strings.Join(Services, ", "))
		}
		env[ImageEnv(svc)] = ref
	}
	for _, kv := range publish {
		name, port, ok := strings.Cut(kv, "=")
		ps, known := PortSettingNamed(name)
		if !ok || !known {
			return fmt.Errorf("--publish %q: want NAME=PORT with NAME one of gateway, keycloak, api-db, keycloak-db, otel-grpc, otel-http, vllm", kv)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fmt.Errorf("--publish %q: %q is not a port number (1-65535)", kv, port)
		}
		env[ps.Env] = port
	}
	return nil
}
