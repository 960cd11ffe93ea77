package main

import (
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/auth/keycloaktest"
)

// An identity provider the user already has instead of the stack's
// Keycloak (issue 18): jan up -d --issuer URL, with the Keycloak double
// standing in for that provider on the host, starts no Keycloak or
// keycloak-db container; the server accepts the issuer's tokens through
// Kong, and guests from its own issuer beside them — or none with
// --guests=off; jan doctor checks the issuer.
func TestStackWithExternalIssuer(t *testing.T) {
	r := newStackRun(t)
	_, port, _ := net.SplitHostPort(r.addr)
	publicURL := "http://localhost:" + port // the stack's JAN_PUBLIC_URL: the llm-api client's redirect URI is its /auth/callback
	kc := keycloaktest.New(t, keycloaktest.Options{PublicURL: publicURL})
	issuer := kc.Issuer()

	if out, _ := r.jan("doctor", "--issuer", issuer); !strings.Contains(out, "✓ identity: --issuer "+issuer+" answers") {
		t.Errorf("jan doctor --issuer:\n%s", out)
	}
	if out, err := r.jan("doctor", "--issuer", issuer+"-wrong"); err == nil || !strings.Contains(out, "✗ identity: --issuer "+issuer+"-wrong") {
		t.Errorf("jan doctor with a wrong issuer (err %v):\n%s", err, out)
	}

	out := r.mustJan("up", "-d", "--issuer", issuer)
	if !strings.Contains(out, "4 created") || strings.Contains(out, "keycloak") && !strings.Contains(out, "no Keycloak") {
		t.Fatalf("jan up -d --issuer:\n%s", out)
	}
	status := r.mustJan("status")
	if strings.Contains(status, "\nkeycloak ") || strings.Contains(status, "\nkeycloak-db ") || !strings.Contains(status, issuer) {
		t.Errorf("jan status:\n%s", status)
	}
	tok, err := kc.SignToken(map[string]any{"iss": issuer, "sub": "3f1c0a52-user-of-acme", "preferred_username": "alice",
		"exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix(), "typ": "Bearer"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := r.do("GET", "/v1/models", tok, ""); code != 200 {
		t.Errorf("the issuer's token through Kong: %d %s", code, body)
	}
	if code, body := r.do("GET", "/v1/models", tok+"x", ""); code != 401 {
		t.Errorf("a forged token through Kong: %d %s", code, body)
	}
	code, body := r.do("POST", "/auth/guest", "", "")
	var guest struct {
		AccessToken string `json:"access_token"`
	}
	if code != 201 || json.Unmarshal(body, &guest) != nil {
		t.Fatalf("a guest beside the external issuer: %d %s", code, body)
	}
	if code, body := r.do("GET", "/v1/models", guest.AccessToken, ""); code != 200 {
		t.Errorf("the guest's token through Kong: %d %s", code, body)
	}
	if code, body := r.do("POST", "/auth/upgrade", guest.AccessToken, `{"username":"bob","password":"correct horse battery staple"}`); code != 400 || !strings.Contains(string(body), "accounts_external") {
		t.Errorf("upgrading a guest when accounts live at the provider: %d %s", code, body)
	}

	r.mustJan("up", "-d", "--issuer", issuer, "--guests=off")
	if code, body := r.do("POST", "/auth/guest", "", ""); code != 400 || !strings.Contains(string(body), "accounts_external") {
		t.Errorf("a guest with --guests=off: %d %s", code, body)
	}
	if code, body := r.do("GET", "/v1/models", tok, ""); code != 200 {
		t.Errorf("the issuer's token with --guests=off: %d %s", code, body)
	}

	// With jan's client at the provider (--client-id), jan login --web
	// signs in there, through Kong; doctor names the redirect URI to allow.
	if out, _ := r.jan("doctor", "--issuer", issuer, "--client-id", kc.TargetClientID); !strings.Contains(out, "as client "+kc.TargetClientID+", which must allow the redirect URI "+publicURL+"/auth/callback") {
		t.Errorf("jan doctor --client-id:\n%s", out)
	}
	r.mustJan("up", "-d", "--issuer", issuer, "--guests=off", "--client-id", kc.TargetClientID)
	if _, err := kc.CreateUser(keycloaktest.UserSpec{Username: "alice", Email: "alice@example.com", Password: "correct horse 9"}); err != nil {
		t.Fatal(err)
	}
	kc.SignInBrowser("alice")
	kong := "http://127.0.0.1:" + r.gateway
	io, outB, errOut, env := testIO(t, kong, "")
	env["BROWSER"] = "env JAN_FAKE_BROWSER=1 " + os.Args[0]
	if err := runLogin(cmdWithContext(t), &loginOptions{clientOptions: clientOptions{IO: io}, Web: true}); err != nil {
		t.Fatalf("jan login --web through the stack: %v\nstderr: %s", err, errOut)
	}
	c := savedCredentials(t, io, kong)
	if !strings.Contains(outB.String(), "Signed in as alice") || c.RefreshToken == "" {
		t.Fatalf("jan login --web: %q, saved %+v", outB, c)
	}
	if code, body := r.do("GET", "/v1/models", c.AccessToken, ""); code != 200 {
		t.Errorf("the signed-in token through Kong: %d %s", code, body)
	}
}
