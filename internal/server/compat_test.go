package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/store"
)

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	UserID       string `json:"user_id"`
	Username     string `json:"username"`
	User         struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
}

// jan-server's auth spellings: /auth/refresh-token (POST and GET, the
// token in the body or as bearer), GET /auth/logout, top-level user_id and
// username.
func TestAuthAliases(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		guest := func() tokenPair {
			t.Helper()
			var p tokenPair
			r := e.do("POST", "/auth/guest", "", nil, nil)
			r.decode(t, &p)
			if r.status != 201 || p.UserID == "" || p.UserID != p.User.ID || p.Username == "" || p.Username != p.User.Username {
				t.Fatalf("guest: %d %s", r.status, r.body)
			}
			return p
		}
		p := guest()
		refreshed := func(r response, what string) tokenPair {
			t.Helper()
			var n tokenPair
			r.decode(t, &n)
			if r.status != 200 || n.RefreshToken == "" || n.RefreshToken == p.RefreshToken || n.UserID != p.UserID {
				t.Fatalf("%s: %d %s", what, r.status, r.body)
			}
			return n
		}
		p = refreshed(e.do("POST", "/auth/refresh-token", "", map[string]string{"refresh_token": p.RefreshToken}, nil), "POST /auth/refresh-token, body")
		p = refreshed(e.do("POST", "/auth/refresh-token", p.RefreshToken, nil, nil), "POST /auth/refresh-token, bearer")
		p = refreshed(e.do("GET", "/auth/refresh-token", p.RefreshToken, nil, nil), "GET /auth/refresh-token, bearer")
		if r := e.do("GET", "/auth/me", p.AccessToken, nil, nil); r.status != 200 {
			t.Errorf("the refreshed access token: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/auth/refresh-token", "", nil, nil); r.status != 400 || r.param(t) != "refresh_token" {
			t.Errorf("GET /auth/refresh-token without a token: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/auth/refresh-token", "not-a-token", nil, nil); r.status != 401 {
			t.Errorf("GET /auth/refresh-token with garbage: %d %s", r.status, r.body)
		}
		// An access token is not a refresh token.
		if r := e.do("GET", "/auth/refresh-token", p.AccessToken, nil, nil); r.status != 401 {
			t.Errorf("GET /auth/refresh-token with an access token: %d %s", r.status, r.body)
		}

		// GET /auth/logout with the refresh token as bearer revokes it.
		if r := e.do("GET", "/auth/logout", p.RefreshToken, nil, nil); r.status != 204 {
			t.Fatalf("GET /auth/logout: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/auth/refresh-token", p.RefreshToken, nil, nil); r.status != 401 {
			t.Errorf("refresh after GET /auth/logout: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/auth/logout", "", nil, nil); r.status != 400 {
			t.Errorf("GET /auth/logout without a token: %d %s", r.status, r.body)
		}
		// And the body form still works on the aliases' twin.
		q := guest()
		if r := e.do("POST", "/auth/logout", "", map[string]string{"refresh_token": q.RefreshToken}, nil); r.status != 204 {
			t.Errorf("POST /auth/logout: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/auth/refresh-token", "", map[string]string{"refresh_token": q.RefreshToken}, nil); r.status != 401 {
			t.Errorf("refresh after POST /auth/logout: %d %s", r.status, r.body)
		}
	})
}

// /auth/api-keys is /v1/api-keys with jan-server's statuses and list shape;
// keys may expire.
func TestAuthAPIKeys(t *testing.T) {
	onBothBackends(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.user("alice")
		before := time.Now().Unix()
		r := e.do("POST", "/auth/api-keys", alice, map[string]any{"name": "ci", "expires_in": 3600}, nil)
		var k apiKeyJSON
		r.decode(t, &k)
		if r.status != 201 || !auth.IsAPIKey(k.Key) || k.ExpiresAt == nil || *k.ExpiresAt < before+3599 || *k.ExpiresAt > time.Now().Unix()+3601 {
			t.Fatalf("create with expires_in: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/v1/models", k.Key, nil, nil); r.status != 200 || r.header.Get("X-Auth-Method") != "api_key" {
			t.Errorf("the new key: %d %s (X-Auth-Method %q)", r.status, r.body, r.header.Get("X-Auth-Method"))
		}
		r = e.do("POST", "/v1/api-keys", alice, map[string]any{"name": "forever"}, nil)
		var forever apiKeyJSON
		r.decode(t, &forever)
		if r.status != 201 || forever.ExpiresAt != nil || !strings.Contains(string(r.body), `"expires_at":null`) {
			t.Errorf("create without expires_in: %d %s", r.status, r.body)
		}
		for _, bad := range []any{0, -5, 10*365*24*3600 + 1, "soon", 1.5} {
			if r := e.do("POST", "/auth/api-keys", alice, map[string]any{"name": "x", "expires_in": bad}, nil); r.status != 400 || r.param(t) != "expires_in" {
				t.Errorf("expires_in %v: %d %s", bad, r.status, r.body)
			}
		}

		r = e.do("GET", "/auth/api-keys", alice, nil, nil)
		var list struct {
			Items []apiKeyJSON `json:"items"`
		}
		r.decode(t, &list)
		if r.status != 200 || len(list.Items) != 2 || list.Items[0].ID != k.ID || list.Items[0].Key != "" {
			t.Errorf("GET /auth/api-keys: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/auth/api-keys", e.guest(), nil, nil); r.status != 403 || r.errorCode(t) != "guest_not_allowed" {
			t.Errorf("a guest's GET /auth/api-keys: %d %s", r.status, r.body)
		}
		if r := e.do("DELETE", "/auth/api-keys/"+k.ID, e.user("bob"), nil, nil); r.status != 404 {
			t.Errorf("bob deletes alice's key: %d %s", r.status, r.body)
		}
		if r := e.do("DELETE", "/auth/api-keys/"+k.ID, alice, nil, nil); r.status != 204 || len(r.body) != 0 {
			t.Errorf("DELETE /auth/api-keys: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/v1/models", k.Key, nil, nil); r.status != 401 {
			t.Errorf("the deleted key: %d", r.status)
		}
		if r := e.do("DELETE", "/auth/api-keys/"+k.ID, alice, nil, nil); r.status != 404 {
			t.Errorf("delete again: %d", r.status)
		}

		// An expired key is 401 key_expired, also when it expires while
		// the server has it cached.
		var who struct{ ID, Username string }
		e.do("GET", "/auth/me", alice, nil, nil).decode(t, &who)
		secret := newStoredKey(t, e, who.ID, time.Now().Add(-time.Second))
		if r := e.do("GET", "/v1/models", secret, nil, nil); r.status != 401 || r.errorCode(t) != "key_expired" {
			t.Errorf("an expired key: %d %s", r.status, r.body)
		}
		soon := newStoredKey(t, e, who.ID, time.Now().Add(1500*time.Millisecond))
		if r := e.do("GET", "/v1/models", soon, nil, nil); r.status != 200 {
			t.Fatalf("a key about to expire: %d %s", r.status, r.body)
		}
		time.Sleep(1600 * time.Millisecond)
		if r := e.do("GET", "/v1/models", soon, nil, nil); r.status != 401 || r.errorCode(t) != "key_expired" {
			t.Errorf("a cached key after its expiry: %d %s", r.status, r.body)
		}
		var shown struct{ Items []json.RawMessage }
		e.do("GET", "/auth/api-keys", alice, nil, nil).decode(t, &shown)
		if len(shown.Items) != 3 {
			t.Errorf("expired keys are still listed (to be deleted): %d items", len(shown.Items))
		}
	})
}

// newStoredKey stores an API key of userID expiring at until, as one made
// earlier would be.
func newStoredKey(t *testing.T, e *env, userID string, until time.Time) string {
	t.Helper()
	secret, hash, prefix, err := auth.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	until = until.UTC().Truncate(time.Microsecond)
	if err := e.store.CreateAPIKey(context.Background(), &store.APIKey{UserID: userID, Username: "alice", Name: "old",
		Prefix: prefix, Hash: hash, ExpiresAt: &until}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// The model catalog and the provider list: from providers.yaml, completed
// by what the engine reports, never a secret.
func TestModelCatalog(t *testing.T) {
	extra := `  - name: remote
    vendor: acme
    base_url: https://user:pw-secret@models.example.com/v1
    headers:
      Authorization: Bearer h-secret
    models:
      - id: acme/Thinker-2-70B
        display_name: Thinker 2
        family: thinker
        context_length: 131072
        capabilities: [chat, vision, reasoning]
`
	onBothBackends(t, envOptions{engine: fakeengine.Options{ContextLength: 8192}, providers: extra}, func(t *testing.T, e *env) {
		tok := e.guest()
		var engineCalls atomic.Int32
		e.engineHook = func(r *http.Request) {
			if r.URL.Path == "/v1/models" {
				engineCalls.Add(1)
			}
		}
		// The engine-served model: its context length from the engine, once a minute at most.
		for range 2 {
			r := e.do("GET", "/v1/models/catalogs/"+testModel, tok, nil, nil)
			if r.status != 200 || string(r.body) != `{"id":"fake-model","object":"model_catalog","display_name":"fake-model","family":"fake",`+
				`"context_length":8192,"capabilities":["chat","completions"],"supports_images":false,"supports_reasoning":false,"active":true}` {
				t.Errorf("catalog of %s: %d %s", testModel, r.status, r.body)
			}
		}
		if n := engineCalls.Load(); n != 1 {
			t.Errorf("two catalog reads asked the engine %d times, want 1", n)
		}
		// A configured model whose id has a slash; providers.yaml is enough.
		r := e.do("GET", "/v1/models/catalogs/acme/Thinker-2-70B", tok, nil, nil)
		var c catalogJSON
		r.decode(t, &c)
		if r.status != 200 || c.ID != "acme/Thinker-2-70B" || c.DisplayName != "Thinker 2" || c.Family != "thinker" || c.ContextLength == nil ||
			*c.ContextLength != 131072 || !c.SupportsImages || !c.SupportsReasoning || !c.Active {
			t.Errorf("catalog of a configured model: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/v1/models/catalogs/nope/nothing", tok, nil, nil); r.status != 404 || r.errorCode(t) != "model_not_found" {
			t.Errorf("catalog of an unknown model: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/v1/models/catalogs/"+testModel, "", nil, nil); r.status != 401 {
			t.Errorf("catalog without a token: %d", r.status)
		}
		// The model route itself still answers for ids with slashes.
		if r := e.do("GET", "/v1/models/acme/Thinker-2-70B", tok, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"object":"model"`) {
			t.Errorf("GET /v1/models/acme/Thinker-2-70B: %d %s", r.status, r.body)
		}

		r = e.do("GET", "/v1/models/providers", tok, nil, nil)
		if r.status != 200 || r.body[0] != '[' {
			t.Fatalf("providers: %d %s", r.status, r.body)
		}
		for _, secret := range []string{"pw-secret", "h-secret", "user:"} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("the provider list shows %q: %s", secret, r.body)
			}
		}
		var provs []providerJSON
		r.decode(t, &provs)
		if len(provs) != 2 || provs[1].Name != "remote" || provs[1].Vendor != "acme" || provs[1].BaseURL != "https://models.example.com/v1" ||
			!provs[1].Active || !strings.HasPrefix(provs[0].ID, "prov_") || provs[0].ID == provs[1].ID || provs[0].Vendor != "openai-compatible" {
			t.Errorf("providers: %s", r.body)
		}
		var again []providerJSON
		e.do("GET", "/v1/models/providers", tok, nil, nil).decode(t, &again)
		if len(again) != 2 || again[0].ID != provs[0].ID {
			t.Errorf("provider ids are not stable: %v then %v", provs, again)
		}
	})
}
