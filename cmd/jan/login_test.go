package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/auth/keycloaktest"
	"github.com/janhq/jan/internal/server/servertest"
	"github.com/janhq/jan/internal/store/pgtest"
)

// jan login and jan upgrade wrap the identity routes; on a server without
// them they say so plainly, and with them they save the new tokens.
func TestLoginAndUpgrade(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})

	io, out, _, env := testIO(t, srv.URL, "s3cret-password\n")
	if err := runGuest(cmdWithContext(t), &guestOptions{clientOptions: clientOptions{IO: io}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	io.In = strings.NewReader("s3cret-password\n")
	err := runUpgrade(cmdWithContext(t), &loginOptions{clientOptions: clientOptions{IO: io}, Username: "alice", Email: "alice@example.com"})
	checkIdentity(t, "upgrade", err, out.String(), "does not offer account upgrade")
	if err == nil {
		if c := savedCredentials(t, io, srv.URL); c.Guest || c.Username != "alice" {
			t.Fatalf("saved after upgrade: %+v", c)
		}
	}

	io2, out2, _, _ := testIO(t, srv.URL, "s3cret-password\n")
	io2.Getenv = func(k string) string { return env[k] }
	err = runLogin(cmdWithContext(t), &loginOptions{clientOptions: clientOptions{IO: io2}, Username: "alice"})
	checkIdentity(t, "login", err, out2.String(), "does not offer password sign-in")

	if err := runUpgrade(cmdWithContext(t), &loginOptions{clientOptions: clientOptions{IO: io2}}); err == nil || !strings.Contains(err.Error(), "--username") {
		t.Fatalf("upgrade without flags: %v", err)
	}
}

func checkIdentity(t *testing.T, what string, err error, out, missing string) {
	t.Helper()
	switch {
	case err == nil && !strings.Contains(out, "alice"):
		t.Fatalf("%s succeeded but printed %q", what, out)
	case err != nil && !strings.Contains(err.Error(), missing):
		t.Fatalf("%s: %v", what, err)
	case err != nil:
		t.Logf("%s: the server has no route yet: %v", what, err)
	}
}

// TestMain doubles as the fake browser of TestLoginWeb: started with
// JAN_FAKE_BROWSER=1 it follows the URL it is given, as a browser whose
// user is signed in at the identity provider would, and exits.
func TestMain(m *testing.M) {
	if os.Getenv("JAN_FAKE_BROWSER") == "1" {
		res, err := http.Get(os.Args[len(os.Args)-1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake browser:", err)
			os.Exit(1)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "fake browser: ended at", res.Request.URL.Host, "with", res.StatusCode)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	pgtest.Stop() // the cluster the Postgres tests started, if any
	os.Exit(code)
}

// jan login --web against a server in Keycloak mode: the browser (a fake
// one, BROWSER) signs in at the Keycloak double, jan's callback sends it
// back to jan login's loopback port, and the tokens are saved.
func TestLoginWeb(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Keycloak: true})
	code, body, err := post(srv.URL+"/auth/guest", "", nil)
	if err != nil || code != 201 {
		t.Fatalf("guest: %d %s %v", code, body, err)
	}
	var g struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &g)
	if code, body, _ := post(srv.URL+"/auth/upgrade", g.AccessToken, map[string]string{"username": "alice", "email": "alice@example.com", "password": "correct horse 9"}); code != 200 {
		t.Fatalf("upgrade: %d %s", code, body)
	}
	srv.Keycloak.SignInBrowser("alice")

	io, out, errOut, env := testIO(t, srv.URL, "")
	env["BROWSER"] = "env JAN_FAKE_BROWSER=1 " + os.Args[0]
	if err := runLogin(cmdWithContext(t), &loginOptions{clientOptions: clientOptions{IO: io}, Web: true}); err != nil {
		t.Fatalf("jan login --web: %v\nstderr: %s", err, errOut)
	}
	if !strings.Contains(out.String(), "Signed in as alice on "+srv.URL) || !strings.Contains(errOut.String(), "/protocol/openid-connect/auth?") {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	c := savedCredentials(t, io, srv.URL)
	if c.Username != "alice" || c.Guest || c.AccessToken == "" || c.RefreshToken == "" {
		t.Fatalf("saved: %+v", c)
	}
	me, err := http.NewRequest("GET", srv.URL+"/auth/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	me.Header.Set("Authorization", "Bearer "+c.AccessToken)
	res, err := http.DefaultClient.Do(me)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the saved token: %v %v", res, err)
	}
	res.Body.Close()

	// No browser to open: the URL is printed, and a browser signing in
	// elsewhere would still finish it; here nobody does, so it times out
	// (shortened through the context).
	io2, _, errOut2, env2 := testIO(t, srv.URL, "")
	env2["BROWSER"] = "/nonexistent/browser"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := cmdWithContext(t)
	cmd.SetContext(ctx)
	err = runLogin(cmd, &loginOptions{clientOptions: clientOptions{IO: io2}, Web: true})
	if err == nil || !strings.Contains(errOut2.String(), "Could not open a browser") || !strings.Contains(errOut2.String(), "visit:\n  http") {
		t.Errorf("without a browser: %v, stderr %q", err, errOut2)
	}
}

// jan login --web against an external issuer (--issuer with jan's client
// there, JAN_OIDC_CLIENT_ID; the Keycloak double as the provider): the
// browser signs in at the provider, the provider's tokens are saved and
// accepted, POST /auth/refresh refreshes them at the provider, logout
// revokes them there; guests from jan's own issuer still work beside it.
func TestLoginWebExternalIssuer(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{ExternalIssuer: true})
	if _, err := srv.Keycloak.CreateUser(keycloaktest.UserSpec{Username: "alice", Email: "alice@example.com", Password: "correct horse 9", RealmRoles: []string{"user"}}); err != nil {
		t.Fatal(err)
	}
	srv.Keycloak.SignInBrowser("alice")

	io, out, errOut, env := testIO(t, srv.URL, "")
	env["BROWSER"] = "env JAN_FAKE_BROWSER=1 " + os.Args[0]
	if err := runLogin(cmdWithContext(t), &loginOptions{clientOptions: clientOptions{IO: io}, Web: true}); err != nil {
		t.Fatalf("jan login --web: %v\nstderr: %s", err, errOut)
	}
	if !strings.Contains(out.String(), "Signed in as alice on "+srv.URL) || !strings.Contains(errOut.String(), srv.Keycloak.Issuer()+"/protocol/openid-connect/auth?") {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	c := savedCredentials(t, io, srv.URL)
	if c.Username != "alice" || c.Guest || c.AccessToken == "" || c.RefreshToken == "" {
		t.Fatalf("saved: %+v", c)
	}
	me := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/auth/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := me(c.AccessToken); code != 200 {
		t.Fatalf("the saved token: %d", code)
	}

	// Refreshed at the provider, through jan.
	code, body, err := post(srv.URL+"/auth/refresh", "", map[string]string{"refresh_token": c.RefreshToken})
	var fresh struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(body, &fresh)
	if err != nil || code != 200 || fresh.AccessToken == "" || fresh.AccessToken == c.AccessToken || me(fresh.AccessToken) != 200 {
		t.Fatalf("refresh: %d %s %v", code, body, err)
	}
	if srv.Keycloak.TokenCalls("refresh_token") != 1 {
		t.Errorf("refresh_token grants at the provider: %d, want 1", srv.Keycloak.TokenCalls("refresh_token"))
	}

	// A refresh token no issuer makes is refused before it reaches the
	// provider, in the body or as a bearer.
	huge := strings.Repeat("r", 16<<10+1)
	if code, body, _ := post(srv.URL+"/auth/refresh", "", map[string]string{"refresh_token": huge}); code != 400 || !strings.Contains(string(body), "invalid_value") {
		t.Errorf("a %d-byte refresh token: %d %s", len(huge), code, body)
	}
	bearer, _ := http.NewRequest("POST", srv.URL+"/auth/refresh", nil)
	bearer.Header.Set("Authorization", "Bearer "+huge)
	if res, err := http.DefaultClient.Do(bearer); err != nil {
		t.Error(err)
	} else {
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(b.String(), "invalid_value") {
			t.Errorf("a %d-byte refresh token as a bearer: %d %s", len(huge), res.StatusCode, b.String())
		}
	}
	if n := srv.Keycloak.TokenCalls("refresh_token"); n != 1 {
		t.Errorf("an oversized refresh token reached the provider (%d refresh grants there)", n)
	}

	// A guest beside the provider's accounts.
	code, body, _ = post(srv.URL+"/auth/guest", "", nil)
	var g struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(body, &g)
	if code != 201 || me(g.AccessToken) != 200 {
		t.Fatalf("a guest beside the provider: %d %s", code, body)
	}
	if code, body, _ := post(srv.URL+"/auth/refresh", "", map[string]string{"refresh_token": g.RefreshToken}); code != 200 {
		t.Fatalf("a guest's refresh: %d %s", code, body)
	}
	if n := srv.Keycloak.TokenCalls("refresh_token"); n != 1 {
		t.Errorf("a guest's refresh reached the provider (%d refresh grants there)", n)
	}

	// Logout revokes the provider's session: its refresh token is dead.
	if code, body, _ := post(srv.URL+"/auth/logout", fresh.AccessToken, map[string]string{"refresh_token": fresh.RefreshToken}); code/100 != 2 {
		t.Fatalf("logout: %d %s", code, body)
	}
	if code, body, _ := post(srv.URL+"/auth/refresh", "", map[string]string{"refresh_token": fresh.RefreshToken}); code != 401 {
		t.Errorf("refresh after logout: %d %s, want 401", code, body)
	}
}
