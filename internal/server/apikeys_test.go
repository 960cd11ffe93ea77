package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// user returns the access token of a fresh guest upgraded to a user.
func (e *env) user(name string) string {
	e.t.Helper()
	r := e.do("POST", "/auth/upgrade", e.guest(), map[string]string{"username": name, "email": name + "@example.com", "password": "correct horse 9"}, nil)
	if r.status != 200 {
		e.t.Fatalf("upgrade %s: %d %s", name, r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(e.t, &tok)
	return tok.AccessToken
}

func (e *env) apiKey(token, name string) (id, secret string) {
	e.t.Helper()
	r := e.do("POST", "/v1/api-keys", token, map[string]string{"name": name}, nil)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create key: %d %s", r.status, r.body)
	}
	var k apiKeyJSON
	r.decode(e.t, &k)
	return k.ID, k.Key
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.user("alice")
	id, secret := e.apiKey(alice, "laptop")
	if !strings.HasPrefix(secret, "jan_") || len(secret) < 40 {
		t.Fatalf("secret = %q", secret)
	}

	// Both ways of sending a key work and say so.
	for _, hdr := range []map[string]string{{"X-API-Key": secret}, {"Authorization": "Bearer " + secret}} {
		r := e.do("POST", "/v1/chat/completions", "", map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "hi"}}}, hdr)
		if r.status != 200 || r.header.Get("X-Auth-Method") != "api_key" || r.header.Get("X-Scopes") != "user" {
			t.Errorf("%v: %d %v %s", hdr, r.status, r.header, r.body)
		}
	}

	// The list never shows the secret; last use is recorded.
	deadline := time.Now().Add(2 * time.Second)
	var list struct{ Data []apiKeyJSON }
	for {
		r := e.do("GET", "/v1/api-keys", alice, nil, nil)
		r.decode(t, &list)
		if strings.Contains(string(r.body), secret) {
			t.Fatal("the list shows the secret")
		}
		if len(list.Data) == 1 && list.Data[0].LastUsedAt != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(list.Data) != 1 || list.Data[0].ID != id || list.Data[0].LastUsedAt == nil || list.Data[0].Key != "" {
		t.Errorf("list = %+v", list.Data)
	}

	// Guests and API keys cannot manage keys.
	if r := e.do("POST", "/v1/api-keys", e.guest(), map[string]string{"name": "x"}, nil); r.status != 403 || r.errorCode(t) != "guest_not_allowed" {
		t.Errorf("guest creates a key: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/api-keys", secret, map[string]string{"name": "x"}, nil); r.status != 403 || r.errorCode(t) != "token_required" {
		t.Errorf("a key creates a key: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/api-keys", alice, map[string]string{}, nil); r.status != 400 || r.param(t) != "name" {
		t.Errorf("no name: %d %s", r.status, r.body)
	}

	// Another user cannot delete it; deleting it revokes it at once.
	bob := e.user("bob")
	if r := e.do("DELETE", "/v1/api-keys/"+id, bob, nil, nil); r.status != 404 {
		t.Errorf("bob deletes alice's key: %d", r.status)
	}
	if r := e.do("DELETE", "/v1/api-keys/"+id, alice, nil, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/models", "", nil, map[string]string{"X-API-Key": secret}); r.status != 401 || r.errorCode(t) != "invalid_api_key" {
		t.Errorf("revoked key: %d %s", r.status, r.body)
	}
	for _, bad := range []string{"jan_nope", "jan_" + strings.Repeat("x", 43), secret[:len(secret)-1]} {
		if r := e.do("GET", "/v1/models", "", nil, map[string]string{"X-API-Key": bad}); r.status != 401 {
			t.Errorf("bad key %q: %d", bad, r.status)
		}
	}
}

// The BOLA matrix with an API key: user B's key gets 404 on every object of A.
func TestOwnershipWithAPIKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	a := e.user("alice")
	_, bKey := e.apiKey(e.user("bob"), "b")
	conv := e.newConversation(a, "mine")
	var run runJSON
	e.do("POST", "/v1/conversations/"+conv+"/runs", a, map[string]any{}, nil).decode(t, &run)
	aKeyID, _ := e.apiKey(a, "a")
	c := "/v1/conversations/" + conv
	for _, tc := range []struct{ method, path string }{
		{"GET", c}, {"PATCH", c}, {"DELETE", c}, {"GET", c + "/messages"}, {"POST", c + "/messages"},
		{"GET", c + "/items"}, {"GET", c + "/items/" + run.Message.ID}, {"DELETE", c + "/items/" + run.Message.ID},
		{"POST", c + "/runs"}, {"GET", c + "/runs/" + run.ID}, {"POST", c + "/runs/" + run.ID + "/cancel"},
	} {
		var body any
		if tc.method != "GET" && tc.method != "DELETE" {
			body = map[string]any{"role": "user", "content": "x", "title": "x"}
		}
		r := e.do(tc.method, tc.path, "", body, map[string]string{"X-API-Key": bKey})
		if r.status != 404 {
			t.Errorf("%s %s with B's key: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
	// B's token cannot delete A's key either (a JWT is needed to manage keys).
	if r := e.do("DELETE", "/v1/api-keys/"+aKeyID, "", nil, map[string]string{"Authorization": "Bearer " + bKey}); r.status != 403 {
		t.Errorf("B's key deletes A's key: %d", r.status)
	}
}

// Authentication cost per request with a cached JWT and with an API key.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok := e.user("bench")
	_, key := e.apiKey(tok, "bench")
	for _, c := range []struct{ name, header, value string }{
		{"jwt", "Authorization", "Bearer " + tok},
		{"api_key", "X-API-Key", key},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/v1/models", nil).WithContext(context.Background())
			r.Header.Set(c.header, c.value)
			if _, err := e.srv.principalOf(r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.srv.principalOf(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
