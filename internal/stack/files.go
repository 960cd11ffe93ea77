package stack

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/janhq/jan/assets"
)

// KongConfig is what assets/kong.yml is rendered with.
type KongConfig struct {
	Upstream      string   // jan's llm-api as the Kong container reaches it
	GatewaySecret string   // sent to llm-api as X-Jan-Gateway-Secret
	CORSOrigins   []string // "*" when empty
}

var kongTemplate = template.Must(template.New("kong.yml").Option("missingkey=error").Parse(assets.KongTemplate))

// RenderKong renders Kong's declarative configuration.
func RenderKong(k KongConfig) ([]byte, error) {
	if k.Upstream == "" {
		return nil, fmt.Errorf("stack: kong.yml: no upstream URL for llm-api")
	}
	if k.GatewaySecret == "" {
		return nil, fmt.Errorf("stack: kong.yml: no gateway secret")
	}
	if strings.ContainsAny(k.GatewaySecret, "\r\n\"") {
		return nil, fmt.Errorf("stack: kong.yml: gateway secret contains a quote or line break")
	}
	if len(k.CORSOrigins) == 0 {
		k.CORSOrigins = []string{"*"}
	}
	var b bytes.Buffer
	if err := kongTemplate.Execute(&b, k); err != nil {
		return nil, fmt.Errorf("stack: kong.yml: %w", err)
	}
	return b.Bytes(), nil
}

// UpstreamURL is llm-api at addr (host:port, as --addr) seen from a
// container: Kong reaches the host through host.docker.internal
// (extra_hosts host-gateway), whatever interface the server listens on.
func UpstreamURL(addr string) string {
	port := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		port = addr[i+1:]
	}
	if port == "" {
		port = "8080"
	}
	return "http://host.docker.internal:" + port
}

// Files returns the content of every compose config, keyed by config name,
// as Convert takes it: the realm file as is (Keycloak resolves its
// placeholders from its environment), kong.yml rendered, the collector's
// configuration as is.
func Files(k KongConfig) (map[string][]byte, error) {
	kong, err := RenderKong(k)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"realm-jan":      assets.RealmJSON,
		"kong":           kong,
		"otel-collector": assets.OtelCollectorYAML,
	}, nil
}
