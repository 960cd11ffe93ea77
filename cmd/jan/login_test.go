package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/server/servertest"
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
	os.Exit(m.Run())
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
