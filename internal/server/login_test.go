package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// upgradedKeycloakUser makes "alice" with a password in the Keycloak
// double, the way a user gets one: a guest that upgrades.
func (e *env) upgradedKeycloakUser() {
	e.t.Helper()
	if r := e.do("POST", "/auth/upgrade", e.guest(), map[string]string{"username": "alice", "email": "alice@example.com", "password": "correct horse 9"}, nil); r.status != 200 {
		e.t.Fatalf("upgrade: %d %s", r.status, r.body)
	}
}

// browser follows URLs as a browser would, without following redirects
// to jan's caller: it returns where it was sent last.
func browser(t *testing.T, start string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.Contains(req.URL.Path, "/auth/callback") && !strings.Contains(req.URL.Path, "/openid-connect/") {
			return http.ErrUseLastResponse // the app's redirect: stop there
		}
		return nil
	}}
	res, err := client.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("browser ended at %s with %d", res.Request.URL, res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

type loginStart struct {
	AuthorizationURL string `json:"authorization_url"`
	State            string `json:"state"`
}

func (e *env) startLogin(redirect, mode string) loginStart {
	e.t.Helper()
	q := url.Values{"redirect_url": {redirect}}
	if mode != "" {
		q.Set("response_mode", mode)
	}
	r := e.do("GET", "/auth/login?"+q.Encode(), "", nil, nil)
	var ls loginStart
	r.decode(e.t, &ls)
	if r.status != 200 || ls.State == "" || !strings.HasPrefix(ls.AuthorizationURL, e.keycloak.Issuer()+"/protocol/openid-connect/auth?") {
		e.t.Fatalf("GET /auth/login: %d %s", r.status, r.body)
	}
	return ls
}

func TestBrowserLogin(t *testing.T) {
	onBothBackends(t, envOptions{keycloak: true}, func(t *testing.T, e *env) {
		e.upgradedKeycloakUser()
		e.keycloak.SignInBrowser("alice")

		// A web app: the tokens in the fragment of its allow-listed URL.
		ls := e.startLogin(testAppRedirect, "")
		u, _ := url.Parse(ls.AuthorizationURL)
		if q := u.Query(); q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("scope") != "openid" ||
			q.Get("state") != ls.State || q.Get("redirect_uri") != e.URL+"/auth/callback" || q.Get("client_id") != "llm-api" {
			t.Fatalf("authorization URL: %s", ls.AuthorizationURL)
		}
		loc := browser(t, ls.AuthorizationURL)
		frag, _ := url.ParseQuery(loc.Fragment)
		if loc.Scheme+"://"+loc.Host+loc.Path != testAppRedirect || loc.RawQuery != "" || frag.Get("access_token") == "" ||
			frag.Get("refresh_token") == "" || frag.Get("token_type") != "Bearer" || frag.Get("username") != "alice" {
			t.Fatalf("sent to %s", loc)
		}
		r := e.do("GET", "/auth/me", frag.Get("access_token"), nil, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"username":"alice"`) {
			t.Fatalf("the browser's access token: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": frag.Get("refresh_token")}, nil); r.status != 200 {
			t.Errorf("the browser's refresh token: %d %s", r.status, r.body)
		}

		// The state is single use: replaying the callback is 401.
		callback := e.URL + "/auth/callback?" + url.Values{"code": {"whatever"}, "state": {ls.State}}.Encode()
		if r := e.do("GET", strings.TrimPrefix(callback, e.URL), "", nil, nil); r.status != 401 || r.errorCode(t) != "invalid_state" {
			t.Errorf("state replay: %d %s", r.status, r.body)
		}

		// A native app: a loopback redirect with the tokens in the query; a
		// prefix entry of the allow-list.
		ls = e.startLogin("http://127.0.0.1:53682/callback", "query")
		loc = browser(t, ls.AuthorizationURL)
		if loc.Host != "127.0.0.1:53682" || loc.Query().Get("access_token") == "" || loc.Fragment != "" {
			t.Errorf("loopback in query mode: sent to %s", loc)
		}
		ls = e.startLogin("https://app.example.com/pages/done?x=1", "")
		if loc = browser(t, ls.AuthorizationURL); loc.Query().Get("x") != "1" || !strings.Contains(loc.Fragment, "access_token=") {
			t.Errorf("a prefix-listed redirect: sent to %s", loc)
		}

		// Refusals.
		for _, c := range []struct {
			query       url.Values
			status      int
			code, param string
		}{
			{url.Values{}, 400, "missing_field", "redirect_url"},
			{url.Values{"redirect_url": {"https://evil.example.com/steal"}}, 400, "redirect_not_allowed", "redirect_url"},
			{url.Values{"redirect_url": {"https://app.example.com/after-login/more"}}, 400, "redirect_not_allowed", "redirect_url"},
			{url.Values{"redirect_url": {"https://app.example.com/pages/../x#frag"}}, 400, "invalid_value", "redirect_url"},
			{url.Values{"redirect_url": {testAppRedirect}, "response_mode": {"query"}}, 400, "invalid_value", "response_mode"},
			{url.Values{"redirect_url": {testAppRedirect}, "response_mode": {"form_post"}}, 400, "invalid_value", "response_mode"},
		} {
			r := e.do("GET", "/auth/login?"+c.query.Encode(), "", nil, nil)
			if r.status != c.status || r.errorCode(t) != c.code || r.param(t) != c.param {
				t.Errorf("GET /auth/login?%s: %d %s, want %d %s", c.query.Encode(), r.status, r.body, c.status, c.code)
			}
		}
		for _, c := range []struct {
			query       url.Values
			status      int
			code, param string
		}{
			{url.Values{"code": {"c"}}, 400, "missing_field", "state"},
			{url.Values{"state": {"s"}}, 400, "missing_field", "code"},
			{url.Values{"code": {"c"}, "state": {"never-issued"}}, 401, "invalid_state", "state"},
		} {
			r := e.do("GET", "/auth/callback?"+c.query.Encode(), "", nil, nil)
			if r.status != c.status || r.errorCode(t) != c.code || r.param(t) != c.param {
				t.Errorf("GET /auth/callback?%s: %d %s, want %d %s", c.query.Encode(), r.status, r.body, c.status, c.code)
			}
		}

		// A code the identity provider refuses, or the user cancelling,
		// sends the browser back with an error and no token.
		ls = e.startLogin(testAppRedirect, "")
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.Get(e.URL + "/auth/callback?" + url.Values{"code": {"forged"}, "state": {ls.State}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != 302 || !strings.Contains(loc.Fragment, "error=access_denied") ||
			strings.Contains(loc.Fragment, "access_token") {
			t.Errorf("a forged code: %d to %s", res.StatusCode, res.Header.Get("Location"))
		}
		ls = e.startLogin(testAppRedirect, "")
		res, err = noFollow.Get(e.URL + "/auth/callback?" + url.Values{"error": {"access_denied"}, "state": {ls.State}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 302 || !strings.Contains(res.Header.Get("Location"), "#error=access_denied") {
			t.Errorf("the user cancelled: %d to %s", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// The embedded issuer has no browser sign-in: it says so.
func TestBrowserLoginNeedsKeycloak(t *testing.T) {
	e := newEnv(t, envOptions{})
	if r := e.do("GET", "/auth/login?redirect_url=http://127.0.0.1:1/cb", "", nil, nil); r.status != 404 || r.errorCode(t) != "browser_login_unavailable" {
		t.Errorf("GET /auth/login in embedded mode: %d %s", r.status, r.body)
	}
}
