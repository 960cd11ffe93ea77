package server

import (
	"net/http"
	"testing"
)

// Kong's consumer headers count only with the gateway secret.
func TestGatewayHeaders(t *testing.T) {
	e := newEnv(t, envOptions{gateway: "s3cret-gateway"})
	consumer := map[string]string{"X-Consumer-ID": "c-123", "X-Consumer-Username": "alice"}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range consumer {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	cases := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"no secret", consumer, http.StatusUnauthorized},
		{"wrong secret", with(map[string]string{GatewaySecretHeader: "guess"}), http.StatusUnauthorized},
		{"anonymous consumer", with(map[string]string{GatewaySecretHeader: "s3cret-gateway", "X-Anonymous-Consumer": "true"}), http.StatusUnauthorized},
		{"secret", with(map[string]string{GatewaySecretHeader: "s3cret-gateway"}), http.StatusCreated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/conversations", "", map[string]any{"title": "x"}, tc.header)
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.status == http.StatusCreated {
				if r.header.Get("X-Principal-Id") != "kong_c-123" || r.header.Get("X-Auth-Method") != "api_key" {
					t.Errorf("principal headers: %v", r.header)
				}
				var c conversationJSON
				r.decode(t, &c)
				if c.UserID != "kong_c-123" {
					t.Errorf("owner = %q", c.UserID)
				}
			} else if r.errorCode(t) != "missing_token" {
				t.Errorf("code: %s", r.body)
			}
		})
	}
	// Without a configured secret, no header value is trusted.
	plain := newEnv(t, envOptions{})
	if r := plain.do("GET", "/v1/models", "", nil, with(map[string]string{GatewaySecretHeader: ""})); r.status != http.StatusUnauthorized {
		t.Errorf("no secret configured: %d", r.status)
	}
}
