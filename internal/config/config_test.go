package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Flags win over the environment, which wins over .env, which wins over defaults.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("# comment\nJAN_ADDR=127.0.0.1:7000\nexport JAN_DB=\"sqlite:/from/dotenv.db\"\nLOG_LEVEL=debug # inline\n"), 0o600)

	env := map[string]string{"JAN_DB": "postgres://env/jan", "XDG_DATA_HOME": "/xdg"}
	getenv := func(k string) string { return env[k] }

	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--engine", "http://a:1,http://b:2"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.DB != "postgres://env/jan" || c.LogLevel != "debug" {
		t.Errorf("addr %q (want .env), db %q (want env), level %q (want .env)", c.Addr, c.DB, c.LogLevel)
	}
	if c.DataDir != "/xdg/jan" || c.PublicURL != "http://127.0.0.1:7000" || len(c.Engines) != 2 {
		t.Errorf("data dir %q, public URL %q, engines %v", c.DataDir, c.PublicURL, c.Engines)
	}

	fs = pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterServeFlags(fs)
	fs.Parse([]string{"--addr", "0.0.0.0:9000", "--db", "/tmp/x.db"})
	if c, err = Load(fs, getenv); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9000" || c.DB != "/tmp/x.db" || c.PublicURL != "http://127.0.0.1:9000" {
		t.Errorf("flags lost: addr %q db %q public %q", c.Addr, c.DB, c.PublicURL)
	}
}

func TestBadValues(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, env := range []map[string]string{
		{"LOG_LEVEL": "loud"}, {"LOG_FORMAT": "xml"}, {"AUTO_MIGRATE": "maybe"}, {"JAN_ADDR": "nohostport"},
		{"JAN_MAX_BODY_BYTES": "-1"}, {"JAN_UPSTREAM_TIMEOUT": "soon"}, {"JAN_BODY_TIMEOUT": "0s"}, {"JAN_BODY_MIN_RATE": "fast"},
		{"JAN_BODY_BUFFER_BYTES": "0"}, {"JAN_MAX_HEADER_BYTES": "-5"}, {"JAN_PASSWORD_HASHES": "x"}, {"JAN_MAX_LIST_BYTES": "1.5"},
		{"JAN_GUEST_RETENTION_DAYS": "-1"}, {"JAN_RUN_CHECKPOINT": "often"}, {"JAN_RUN_STALE_AFTER": "-1m"}, {"JAN_FINAL_WRITE_RETRY": "x"}, {"JAN_KEY_ROTATION": "-1h"}, {"JAN_KEY_ROTATION": "monthly"},
		{"JAN_GUESTS": "maybe"}, {"JAN_OIDC_CLIENT_ID": "jan"}, {"JAN_OIDC_ISSUER": "https://idp.example", "JAN_OIDC_CLIENT_SECRET": "s"},
		{"JAN_OIDC_ISSUER": "https://idp.example", "JAN_OIDC_CLIENT_ID": "jan", "JAN_OIDC_SCOPES": "profile email"},
	} {
		if _, err := Load(nil, func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
	c, err := Load(nil, func(string) string { return "" })
	if err != nil || c.Addr != "127.0.0.1:8080" || !c.AutoMigrate || c.BodyLimit != 4<<20 || c.NoGuests {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	c, err = Load(nil, func(k string) string {
		return map[string]string{"JAN_OIDC_ISSUER": "https://idp.example", "JAN_OIDC_CLIENT_ID": "jan", "JAN_OIDC_SCOPES": "openid, offline_access email"}[k]
	})
	if err != nil || c.OIDCClient.ID != "jan" || strings.Join(c.OIDCClient.Scopes, " ") != "openid offline_access email" {
		t.Errorf("the OIDC client: %+v, %v", c.OIDCClient, err)
	}
	for v, off := range map[string]bool{"on": false, "off": true, "OFF": true, "true": false, "false": true} {
		if c, err := Load(nil, func(k string) string { return map[string]string{"JAN_GUESTS": v}[k] }); err != nil || c.NoGuests != off {
			t.Errorf("JAN_GUESTS=%s: NoGuests %v, %v", v, c.NoGuests, err)
		}
	}
}

// Every limit is a setting: the environment moves each off its default.
func TestLimitSettings(t *testing.T) {
	t.Chdir(t.TempDir())
	env := map[string]string{
		"JAN_BODY_TIMEOUT": "5s", "JAN_BODY_MIN_RATE": "100", "JAN_BODY_BUFFER_BYTES": "1048576", "JAN_MAX_HEADER_BYTES": "8192",
		"JAN_PASSWORD_HASHES": "3", "JAN_MAX_LIST_BYTES": "65536", "JAN_GUEST_RETENTION_DAYS": "0", "JAN_RUN_CHECKPOINT": "2s",
		"JAN_RUN_STALE_AFTER": "5m", "JAN_FINAL_WRITE_RETRY": "10s", "JAN_RATE_LIMIT_AUTH": "off", "JAN_KEY_ROTATION": "0",
	}
	c, err := Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{BodyTimeout: 5 * time.Second, BodyMinRate: 100, BodyBuffer: 1 << 20, MaxHeaderBytes: 8192, PasswordHashes: 3,
		ListBytes: 65536, GuestRetention: 0, RunCheckpoint: 2 * time.Second, RunStaleAfter: 5 * time.Minute, FinalWriteRetry: 10 * time.Second,
		RateLimitAuth: "off", KeyRotation: 0}
	got := Config{KeyRotation: c.KeyRotation, BodyTimeout: c.BodyTimeout, BodyMinRate: c.BodyMinRate, BodyBuffer: c.BodyBuffer, MaxHeaderBytes: c.MaxHeaderBytes,
		PasswordHashes: c.PasswordHashes, ListBytes: c.ListBytes, GuestRetention: c.GuestRetention, RunCheckpoint: c.RunCheckpoint,
		RunStaleAfter: c.RunStaleAfter, FinalWriteRetry: c.FinalWriteRetry, RateLimitAuth: c.RateLimitAuth}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("limits from the environment:\n got %+v\nwant %+v", got, want)
	}
	d, _ := Load(nil, func(string) string { return "" })
	if d.GuestRetention != 30*24*time.Hour || d.BodyTimeout != time.Minute || d.MaxHeaderBytes != 64<<10 || d.KeyRotation != 30*24*time.Hour {
		t.Errorf("defaults: retention %v, body timeout %v, header bytes %d, key rotation %v", d.GuestRetention, d.BodyTimeout, d.MaxHeaderBytes, d.KeyRotation)
	}
}

// Keycloak and telemetry come through the one path too: a setting only in
// .env is seen, the environment wins over .env, and Over layers jan up's
// stack settings under the environment.
func TestKeycloakAndTelemetrySettings(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("KEYCLOAK_BASE_URL=http://kc:8080\nBACKEND_CLIENT_SECRET=from-dotenv\nKEYCLOAK_REALM=dotenv-realm\nVLLM_INTERNAL_KEY=k1\n"), 0o600)
	env := map[string]string{"KEYCLOAK_REALM": "env-realm", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
	c, err := Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Keycloak{BaseURL: "http://kc:8080", BackendClientSecret: "from-dotenv", Realm: "env-realm"}
	if c.Keycloak != want {
		t.Errorf("Keycloak = %+v, want %+v", c.Keycloak, want)
	}
	if !c.Telemetry.Enabled() || c.Telemetry.Endpoint != "http://collector:4318" {
		t.Errorf("Telemetry = %+v", c.Telemetry)
	}
	if c.Lookup("VLLM_INTERNAL_KEY") != "k1" {
		t.Errorf("Lookup does not see .env: %q", c.Lookup("VLLM_INTERNAL_KEY"))
	}

	stack := map[string]string{"KEYCLOAK_BASE_URL": "http://localhost:8085", "BACKEND_CLIENT_SECRET": "from-stack", "JAN_GATEWAY_SECRET": "gw"}
	c, err = Load(nil, Over(func(k string) string { return env[k] }, stack))
	if err != nil {
		t.Fatal(err)
	}
	if c.Keycloak.BaseURL != "http://localhost:8085" || c.Keycloak.BackendClientSecret != "from-stack" || c.Keycloak.Realm != "env-realm" || c.GatewaySecret != "gw" {
		t.Errorf("stack settings under the environment: %+v, gateway %q", c.Keycloak, c.GatewaySecret)
	}
}
