package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestGuestRefreshAndDiscovery(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/auth/guest", "/auth/guest-login"} {
		r := e.do("POST", path, "", nil, nil)
		var tok struct {
			User struct {
				ID    string `json:"id"`
				Guest bool   `json:"guest"`
			} `json:"user"`
		}
		r.decode(t, &tok)
		var raw map[string]any
		r.decode(t, &raw)
		if r.status != 201 || raw["access_token"] == nil || raw["refresh_token"] == nil || raw["token_type"] != "Bearer" || !tok.User.Guest || tok.User.ID == "" {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}

	// Refresh rotates: the new pair works, the old refresh token does not.
	var first struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	e.do("POST", "/auth/guest", "", nil, nil).decode(t, &first)
	me := e.do("GET", "/auth/me", first.AccessToken, nil, nil)
	var who struct {
		ID    string `json:"id"`
		Guest bool   `json:"guest"`
	}
	me.decode(t, &who)
	r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}, nil)
	var second struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	r.decode(t, &second)
	if r.status != 200 || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var again struct{ ID string }
	e.do("GET", "/auth/me", second.AccessToken, nil, nil).decode(t, &again)
	if again.ID != who.ID || !who.Guest {
		t.Errorf("refreshed principal %q, want %q (guest)", again.ID, who.ID)
	}
	if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}, nil); r.status != 401 {
		t.Errorf("reused refresh token: %d %s", r.status, r.body)
	}
	// Reuse ends the session: the successor's tokens stop working too.
	if r := e.do("GET", "/auth/me", second.AccessToken, nil, nil); r.status != 401 || r.errorCode(t) != "session_ended" {
		t.Errorf("the successor's access token after a reuse: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken}, nil); r.status != 401 {
		t.Errorf("the successor's refresh token after a reuse: %d %s", r.status, r.body)
	}
	e.do("POST", "/auth/guest", "", nil, nil).decode(t, &second)

	// The discovery document's token endpoint exists and speaks OAuth 2.0.
	var disc struct {
		Issuer        string `json:"issuer"`
		JWKSURI       string `json:"jwks_uri"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	e.do("GET", "/.well-known/openid-configuration", "", nil, nil).decode(t, &disc)
	if disc.Issuer != e.URL || !strings.HasPrefix(disc.TokenEndpoint, e.URL) {
		t.Fatalf("discovery = %+v", disc)
	}
	if r := e.do("GET", strings.TrimPrefix(disc.JWKSURI, e.URL), "", nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"keys"`) {
		t.Errorf("jwks: %d %s", r.status, r.body)
	}
	form := func(v url.Values) (int, map[string]any) {
		res, err := http.PostForm(disc.TokenEndpoint, v)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	status, out := form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}})
	if status != 200 || out["access_token"] == nil {
		t.Errorf("token endpoint: %d %v", status, out)
	}
	status, out = form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}})
	if status != 400 || out["error"] != "invalid_grant" {
		t.Errorf("token endpoint with a used token: %d %v", status, out)
	}
	status, out = form(url.Values{"grant_type": {"client_credentials"}})
	if status != 400 || out["error"] != "unsupported_grant_type" {
		t.Errorf("unsupported grant: %d %v", status, out)
	}
}
