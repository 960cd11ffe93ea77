package keycloaktest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/janhq/jan/assets"
	"github.com/janhq/jan/internal/auth/keycloaktest"
)

// client talks to a double the way any HTTP client would.
type client struct {
	t    *testing.T
	base string
}

func (c client) form(path string, v url.Values) (int, map[string]any) {
	c.t.Helper()
	resp, err := http.PostForm(c.base+path, v)
	if err != nil {
		c.t.Fatal(err)
	}
	return decode(c.t, resp)
}

func (c client) json(method, path, bearer string, body any) (*http.Response, map[string]any, []any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	var list []any
	if json.Unmarshal(data, &obj) != nil {
		json.Unmarshal(data, &list)
	}
	return resp, obj, list
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("HTTP %d, body %q is not JSON", resp.StatusCode, data)
		}
	}
	return resp.StatusCode, m
}

func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const tokenPath = "/realms/jan/protocol/openid-connect/token"

func serviceToken(t *testing.T, s *keycloaktest.Server) string {
	t.Helper()
	c := client{t, s.URL()}
	code, body := c.form(tokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {"backend"}, "client_secret": {s.BackendClientSecret}})
	if code != 200 {
		t.Fatalf("client_credentials: %d %v", code, body)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Fatal("client_credentials must not return a refresh token")
	}
	return body["access_token"].(string)
}

func TestTokensLookLikeKeycloaks(t *testing.T) {
	t.Parallel()
	s := keycloaktest.New(t, keycloaktest.Options{})
	c := client{t, s.URL()}
	id, err := s.CreateUser(keycloaktest.UserSpec{Username: "Alice", Email: "alice@example.com", Password: "pw-alice-123",
		RealmRoles: []string{"user"}, Attributes: map[string][]string{"guest": {"false"}}})
	if err != nil {
		t.Fatal(err)
	}
	code, body := c.form(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"ALICE"}, "password": {"pw-alice-123"}})
	if code != 200 {
		t.Fatalf("password grant: %d %v", code, body)
	}
	for _, k := range []string{"access_token", "refresh_token", "expires_in", "refresh_expires_in", "token_type", "session_state", "scope"} {
		if _, ok := body[k]; !ok {
			t.Errorf("token response lacks %q", k)
		}
	}
	at := claims(t, body["access_token"].(string))
	want := map[string]any{"iss": s.Issuer(), "sub": id, "azp": "llm-api", "typ": "Bearer", "preferred_username": "alice",
		"email": "alice@example.com", "guest": false, "aud": "llm-api", "scope": "profile email"}
	for k, v := range want {
		if at[k] != v {
			t.Errorf("claim %s = %v, want %v", k, at[k], v)
		}
	}
	for _, k := range []string{"exp", "iat", "jti", "sid"} {
		if _, ok := at[k]; !ok {
			t.Errorf("no %s claim", k)
		}
	}
	roles, _ := at["realm_access"].(map[string]any)["roles"].([]any)
	for _, r := range []string{"user", "default-roles-jan", "offline_access"} {
		if !slices.Contains(roles, any(r)) {
			t.Errorf("realm_access.roles %v lacks %s", roles, r)
		}
	}
	rt := claims(t, body["refresh_token"].(string))
	if rt["typ"] != "Refresh" || rt["azp"] != "llm-api" {
		t.Errorf("refresh token claims %v", rt)
	}

	// The service account's token carries realm-management roles, not llm-api.
	sat := claims(t, serviceToken(t, s))
	if sat["aud"] != "realm-management" || sat["azp"] != "backend" || sat["preferred_username"] != "service-account-backend" {
		t.Errorf("service-account token %v", sat)
	}

	// Bad credentials, a public client without direct grants, a confidential one without its secret.
	for _, tc := range []struct {
		form url.Values
		code int
		err  string
	}{
		{url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"alice"}, "password": {"nope"}}, 401, "invalid_grant"},
		{url.Values{"grant_type": {"password"}, "client_id": {"backend"}, "client_secret": {s.BackendClientSecret}, "username": {"alice"}, "password": {"pw-alice-123"}}, 400, "unauthorized_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"backend"}}, 401, "unauthorized_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"llm-api"}}, 401, "unauthorized_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}}, 401, "invalid_client"},
		{url.Values{"grant_type": {"magic"}, "client_id": {"llm-api"}}, 400, "unsupported_grant_type"},
		{url.Values{"client_id": {"llm-api"}}, 400, "invalid_request"},
	} {
		code, body := c.form(tokenPath, tc.form)
		if code != tc.code || body["error"] != tc.err {
			t.Errorf("%v: %d %v, want %d %s", tc.form, code, body, tc.code, tc.err)
		}
	}
}

func TestRefreshRotationAndLogout(t *testing.T) {
	t.Parallel()
	s := keycloaktest.New(t, keycloaktest.Options{})
	c := client{t, s.URL()}
	if _, err := s.CreateUser(keycloaktest.UserSpec{Username: "bob", Password: "pw-bob-12345"}); err != nil {
		t.Fatal(err)
	}
	_, first := c.form(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"bob"}, "password": {"pw-bob-12345"}})
	rt1 := first["refresh_token"].(string)
	refresh := func(rt, clientID string) (int, map[string]any) {
		return c.form(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {rt}})
	}
	code, second := refresh(rt1, "llm-api")
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, second)
	}
	rt2 := second["refresh_token"].(string)
	if code, body := refresh(rt1, "llm-api"); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", code, body)
	}
	if code, body := c.form(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {"backend"}, "client_secret": {s.BackendClientSecret}, "refresh_token": {rt2}}); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh at another client: %d %v", code, body)
	}
	logout := "/realms/jan/protocol/openid-connect/logout"
	if code, body := c.form(logout, url.Values{"client_id": {"llm-api"}, "refresh_token": {rt2}}); code != 204 {
		t.Fatalf("logout: %d %v", code, body)
	}
	if code, body := refresh(rt2, "llm-api"); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after logout: %d %v", code, body)
	}
	if code, body := c.form(logout, url.Values{"client_id": {"llm-api"}, "refresh_token": {rt2}}); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("second logout: %d %v", code, body)
	}
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	s := keycloaktest.New(t, keycloaktest.Options{})
	c := client{t, s.URL()}
	sat := serviceToken(t, s)
	admin := "/admin/realms/jan"

	if resp, _, _ := c.json("GET", admin+"/users", "", nil); resp.StatusCode != 401 {
		t.Fatalf("no bearer: %d", resp.StatusCode)
	}
	if resp, _, _ := c.json("GET", admin+"/users", "forged.token.here", nil); resp.StatusCode != 401 {
		t.Fatalf("garbage bearer: %d", resp.StatusCode)
	}
	// A user's token (no realm-management roles) is forbidden.
	s.CreateUser(keycloaktest.UserSpec{Username: "mallory", Password: "pw-mallory-1"})
	_, ut := c.form(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"mallory"}, "password": {"pw-mallory-1"}})
	if resp, _, _ := c.json("GET", admin+"/users", ut["access_token"].(string), nil); resp.StatusCode != 403 {
		t.Fatalf("user token: %d", resp.StatusCode)
	}

	// Create: 201 with Location; unmanaged attributes are dropped (Keycloak 24+),
	// the declared guest attribute is kept; the username is lowercased.
	resp, _, _ := c.json("POST", admin+"/users", sat, map[string]any{
		"username": "Guest-ABC", "enabled": true, "attributes": map[string][]string{"guest": {"true"}, "shoe_size": {"44"}}})
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	if !strings.HasPrefix(loc, s.URL()+admin+"/users/") || id == "" {
		t.Fatalf("Location %q", loc)
	}
	_, u, _ := c.json("GET", admin+"/users/"+id, sat, nil)
	if u["username"] != "guest-abc" || u["enabled"] != true {
		t.Fatalf("user %v", u)
	}
	attrs, _ := u["attributes"].(map[string]any)
	if _, ok := attrs["shoe_size"]; ok || attrs["guest"] == nil {
		t.Fatalf("attributes %v: want guest kept and the undeclared shoe_size dropped", attrs)
	}
	if resp, body, _ := c.json("POST", admin+"/users", sat, map[string]any{"username": "GUEST-abc"}); resp.StatusCode != 409 || body["errorMessage"] != "User exists with same username" {
		t.Fatalf("duplicate: %d %v", resp.StatusCode, body)
	}
	if resp, body, _ := c.json("POST", admin+"/users", sat, map[string]any{"username": "xavier", "attributes": map[string][]string{"guest": {"maybe"}}}); resp.StatusCode != 400 {
		t.Fatalf("invalid user: %d %v", resp.StatusCode, body)
	}

	// Query, exact and not.
	_, _, list := c.json("GET", admin+"/users?username=guest&exact=true", sat, nil)
	if len(list) != 0 {
		t.Fatalf("exact query matched %v", list)
	}
	_, _, list = c.json("GET", admin+"/users?username=GUEST-ABC&exact=true", sat, nil)
	if len(list) != 1 {
		t.Fatalf("exact query: %v", list)
	}

	// Roles: by name, then mapped with id and name.
	_, guest, _ := c.json("GET", admin+"/roles/guest", sat, nil)
	if guest["name"] != "guest" || guest["id"] == "" || guest["clientRole"] != false {
		t.Fatalf("role %v", guest)
	}
	if resp, _, _ := c.json("GET", admin+"/roles/nope", sat, nil); resp.StatusCode != 404 {
		t.Fatalf("missing role: %d", resp.StatusCode)
	}
	if resp, _, _ := c.json("POST", admin+"/users/"+id+"/role-mappings/realm", sat, []map[string]any{{"name": "guest", "id": "wrong"}}); resp.StatusCode != 404 {
		t.Fatalf("role with a wrong id: %d", resp.StatusCode)
	}
	if resp, _, _ := c.json("POST", admin+"/users/"+id+"/role-mappings/realm", sat, []any{guest}); resp.StatusCode != 204 {
		t.Fatalf("map role: %d", resp.StatusCode)
	}
	_, _, mapped := c.json("GET", admin+"/users/"+id+"/role-mappings/realm", sat, nil)
	if len(mapped) != 2 { // default-roles-jan and guest
		t.Fatalf("mappings %v", mapped)
	}

	// Reset password with the realm policy; update; delete.
	if resp, body, _ := c.json("PUT", admin+"/users/"+id+"/reset-password", sat, map[string]any{"type": "password", "value": "short", "temporary": false}); resp.StatusCode != 400 || body["error"] != "invalidPasswordMinLengthMessage" {
		t.Fatalf("short password: %d %v", resp.StatusCode, body)
	}
	if resp, _, _ := c.json("PUT", admin+"/users/"+id+"/reset-password", sat, map[string]any{"type": "password", "value": "long enough 1", "temporary": false}); resp.StatusCode != 204 {
		t.Fatalf("reset password: %d", resp.StatusCode)
	}
	if resp, body, _ := c.json("PUT", admin+"/users/"+id, sat, map[string]any{"username": "mallory"}); resp.StatusCode != 409 {
		t.Fatalf("rename onto a taken name: %d %v", resp.StatusCode, body)
	}
	if resp, _, _ := c.json("PUT", admin+"/users/"+id, sat, map[string]any{"username": "carol", "email": "Carol@Example.com"}); resp.StatusCode != 204 {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	if got, _ := s.User(id); got.Username != "carol" || got.Email != "carol@example.com" || !got.IsGuest() || !got.HasPassword {
		t.Fatalf("after update %+v (attributes absent from the body stay)", got)
	}
	if resp, _, _ := c.json("DELETE", admin+"/users/"+id, sat, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, body, _ := c.json("GET", admin+"/users/"+id, sat, nil); resp.StatusCode != 404 || body["error"] != "User not found" {
		t.Fatalf("deleted user: %d %v", resp.StatusCode, body)
	}
}

func TestFailureHooks(t *testing.T) {
	t.Parallel()
	s := keycloaktest.New(t, keycloaktest.Options{Fail: func(r *http.Request) int {
		if r.URL.Query().Get("fail") != "" {
			return http.StatusTeapot
		}
		return 0
	}})
	disc := s.URL() + "/realms/jan/.well-known/openid-configuration"
	s.FailNext(keycloaktest.Match{Path: "/openid-configuration"}, http.StatusBadGateway)
	s.FailNext(keycloaktest.Match{Path: "/openid-configuration"}, keycloaktest.Garbage)
	s.FailNext(keycloaktest.Match{Path: "/openid-configuration"}, keycloaktest.Drop)
	for _, want := range []int{502, 200, -1, 200, 418} {
		u := disc
		if want == 418 {
			u += "?fail=1"
		}
		resp, err := http.Get(u)
		if want == -1 {
			if err == nil {
				resp.Body.Close()
				t.Fatal("Drop answered")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
	}
}

func TestStandaloneHandler(t *testing.T) {
	t.Parallel()
	d, err := keycloaktest.NewHandler(keycloaktest.Options{BaseURL: "http://keycloak:8080", BackendClientSecret: "fixed"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/realms/jan/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_, doc := decode(t, resp)
	if doc["issuer"] != "http://keycloak:8080/realms/jan" || doc["jwks_uri"] != "http://keycloak:8080/realms/jan/protocol/openid-connect/certs" {
		t.Fatalf("discovery %v", doc)
	}
	if d.BackendClientSecret != "fixed" || d.Realm != "jan" {
		t.Fatalf("double %+v", d)
	}
	resp, _ = http.Get(srv.URL + "/realms/other/.well-known/openid-configuration")
	if code, _ := decode(t, resp); code != 404 {
		t.Fatalf("other realm: %d", code)
	}
	resp, _ = http.Get(srv.URL + "/health/ready")
	if code, _ := decode(t, resp); code != 200 {
		t.Fatalf("health: %d", code)
	}
}

func TestRealmFileDrivesTheDouble(t *testing.T) {
	t.Parallel()
	edit := func(f func(map[string]any)) []byte {
		var r map[string]any
		json.Unmarshal(assets.RealmJSON, &r)
		f(r)
		b, _ := json.Marshal(r)
		return b
	}
	for name, realm := range map[string][]byte{
		"no backend client": edit(func(r map[string]any) { r["clients"] = r["clients"].([]any)[1:] }),
		"unknown field":     edit(func(r map[string]any) { r["realmm"] = "typo" }),
		"unemulated mapper": edit(func(r map[string]any) {
			c := r["clients"].([]any)[1].(map[string]any)
			c["protocolMappers"] = append(c["protocolMappers"].([]any), map[string]any{"name": "x", "protocol": "openid-connect", "protocolMapper": "oidc-script-mapper"})
		}),
	} {
		if _, err := keycloaktest.NewHandler(keycloaktest.Options{RealmJSON: realm}); err == nil {
			t.Errorf("%s: NewHandler accepted it", name)
		}
	}

	// Without the audience mapper, tokens lack the llm-api audience, as in Keycloak.
	s := keycloaktest.New(t, keycloaktest.Options{RealmJSON: edit(func(r map[string]any) {
		c := r["clients"].([]any)[1].(map[string]any)
		c["protocolMappers"] = c["protocolMappers"].([]any)[:2]
	})})
	s.CreateUser(keycloaktest.UserSpec{Username: "dan", Password: "pw-dan-12345"})
	_, body := client{t, s.URL()}.form(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"dan"}, "password": {"pw-dan-12345"}})
	if aud, ok := claims(t, body["access_token"].(string))["aud"]; ok {
		t.Fatalf("aud %v without an audience mapper", aud)
	}
}

// A double restored from another's Snapshot is that Keycloak after a
// restart: its users sign in with their passwords, its JWKS verifies the
// tokens signed before, and a refresh token issued before still refreshes.
func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048) // not the process's shared key
	if err != nil {
		t.Fatal(err)
	}
	// One address before and after, as a restarted Keycloak keeps its hostname (tokens name it).
	a := keycloaktest.New(t, keycloaktest.Options{Key: key, BackendClientSecret: "s3cret", BaseURL: "http://keycloak.test"})
	id, err := a.CreateUser(keycloaktest.UserSpec{Username: "alice", Password: "pw-alice-123", RealmRoles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	ca := client{t, a.URL()}
	tokenPath := "/realms/jan/protocol/openid-connect/token"
	_, tok := ca.form(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"alice"}, "password": {"pw-alice-123"}})
	refresh, _ := tok["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	b := keycloaktest.New(t, keycloaktest.Options{BackendClientSecret: "s3cret", BaseURL: "http://keycloak.test"})
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	cb := client{t, b.URL()}
	jwksA, jwksB := get(t, a.URL()+"/realms/jan/protocol/openid-connect/certs"), get(t, b.URL()+"/realms/jan/protocol/openid-connect/certs")
	if jwksA != jwksB {
		t.Errorf("the restored JWKS differs:\n%s\n%s", jwksA, jwksB)
	}
	if u, ok := b.User(id); !ok || u.Username != "alice" {
		t.Fatalf("user %s after the restore: %+v %v", id, u, ok)
	}
	if code, body := cb.form(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {"llm-api"}, "refresh_token": {refresh}}); code != 200 {
		t.Errorf("a refresh token from before the restore: %d %v", code, body)
	}
	if code, body := cb.form(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {"llm-api"}, "username": {"alice"}, "password": {"pw-alice-123"}}); code != 200 {
		t.Errorf("the password after the restore: %d %v", code, body)
	}
	if err := b.Restore([]byte(`{"key_pem":"nope"}`)); err == nil {
		t.Error("a broken state restored")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
