package server

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// identityModes runs a test against the embedded issuer and against
// Keycloak (the test double): both modes must behave the same.
func identityModes(t *testing.T, test func(t *testing.T, e *env, m forger)) {
	for _, mode := range []string{"embedded", "keycloak"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, envOptions{keycloak: mode == "keycloak"})
			test(t, e, newForger(t, e))
		})
	}
}

// forger mints tokens for a mode: valid ones from the mode's own key and
// claims, and the attack matrix's variations.
type forger struct {
	t        *testing.T
	iss, aud string
	sign     func(claims map[string]any) string // the mode's key and kid
}

func newForger(t *testing.T, e *env) forger {
	if e.keycloak != nil {
		return forger{t: t, iss: e.keycloak.Issuer(), aud: e.keycloak.TargetClientID, sign: func(c map[string]any) string {
			tok, err := e.keycloak.SignToken(c)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}}
	}
	jwk := jose.JSONWebKey{Key: &testKey().PublicKey}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kid := base64.RawURLEncoding.EncodeToString(sum)
	return forger{t: t, iss: e.URL, aud: "jan", sign: func(c map[string]any) string { return signRS256(t, testKey(), kid, c) }}
}

func (f forger) claims(sub string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": f.iss, "aud": f.aud, "sub": sub, "typ": "Bearer", "preferred_username": "mallory",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"scope": "user", "realm_access": map[string]any{"roles": []string{"user"}},
	}
}

func signRS256(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func b64json(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Guest → chat → upgrade → the same conversations with the new token; the
// guest's refresh token is dead; the account is no longer a guest.
func TestGuestUpgradeKeepsConversations(t *testing.T) {
	identityModes(t, func(t *testing.T, e *env, _ forger) {
		var guest struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			User         struct {
				ID    string `json:"id"`
				Guest bool   `json:"guest"`
			} `json:"user"`
		}
		e.do("POST", "/auth/guest", "", nil, nil).decode(t, &guest)
		if !guest.User.Guest || guest.AccessToken == "" {
			t.Fatalf("guest = %+v", guest)
		}
		conv := e.newConversation(guest.AccessToken, "hello")
		if r := e.do("POST", "/v1/conversations/"+conv+"/runs", guest.AccessToken, map[string]any{}, nil); r.status != 200 {
			t.Fatalf("run: %d %s", r.status, r.body)
		}

		bad := []struct {
			body  map[string]string
			code  string
			param string
		}{
			{map[string]string{"username": "alice", "email": "alice@example.com", "password": "short"}, "weak_password", "password"},
			{map[string]string{"username": "a", "email": "alice@example.com", "password": "correct horse 9"}, "invalid_username", "username"},
			{map[string]string{"username": "alice", "email": "not-an-email", "password": "correct horse 9"}, "invalid_email", "email"},
			{map[string]string{"email": "alice@example.com", "password": "correct horse 9"}, "missing_field", "username"},
		}
		for _, b := range bad {
			r := e.do("POST", "/auth/upgrade", guest.AccessToken, b.body, nil)
			if r.status != 400 || r.errorCode(t) != b.code || r.param(t) != b.param {
				t.Errorf("upgrade %v: %d %s", b.body, r.status, r.body)
			}
		}
		if r := e.do("POST", "/auth/upgrade", guest.AccessToken, `{"username":`, nil); r.status != 400 {
			t.Errorf("malformed upgrade: %d", r.status)
		}

		up := map[string]string{"username": "alice", "email": "alice@example.com", "password": "correct horse 9"}
		r := e.do("POST", "/auth/upgrade", guest.AccessToken, up, nil)
		if r.status != 200 {
			t.Fatalf("upgrade: %d %s", r.status, r.body)
		}
		var user struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			User         struct {
				ID    string `json:"id"`
				Guest bool   `json:"guest"`
			} `json:"user"`
		}
		r.decode(t, &user)
		if user.User.ID != guest.User.ID || user.User.Guest {
			t.Errorf("upgraded account = %+v, want id %s and not a guest", user.User, guest.User.ID)
		}

		var list struct{ Data []struct{ ID string } }
		e.do("GET", "/v1/conversations", user.AccessToken, nil, nil).decode(t, &list)
		if len(list.Data) != 1 || list.Data[0].ID != conv {
			t.Errorf("conversations after the upgrade = %+v, want [%s]", list.Data, conv)
		}
		if msgs := e.messages(user.AccessToken, conv); len(msgs) != 2 {
			t.Errorf("messages after the upgrade = %d, want 2", len(msgs))
		}
		var me struct {
			ID       string   `json:"id"`
			Guest    bool     `json:"guest"`
			Username string   `json:"username"`
			Scopes   []string `json:"scopes"`
		}
		e.do("GET", "/auth/me", user.AccessToken, nil, nil).decode(t, &me)
		if me.Guest || me.ID != guest.User.ID || me.Username != "alice" || strings.Contains(strings.Join(me.Scopes, " "), "guest") {
			t.Errorf("/auth/me = %+v", me)
		}
		if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": guest.RefreshToken}, nil); r.status != 401 {
			t.Errorf("the guest's refresh token after the upgrade: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/auth/upgrade", user.AccessToken, up, nil); r.status != 409 || r.errorCode(t) != "not_a_guest" {
			t.Errorf("upgrading a user: %d %s", r.status, r.body)
		}
		// A second guest cannot take the name.
		if r := e.do("POST", "/auth/upgrade", e.guest(), map[string]string{"username": "alice", "email": "other@example.com", "password": "correct horse 9"}, nil); r.status != 409 || r.errorCode(t) != "username_taken" {
			t.Errorf("taken username: %d %s", r.status, r.body)
		}

		// Logout revokes the refresh token.
		if r := e.do("POST", "/auth/logout", "", map[string]string{"refresh_token": user.RefreshToken}, nil); r.status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/auth/refresh", "", map[string]string{"refresh_token": user.RefreshToken}, nil); r.status != 401 {
			t.Errorf("refresh after logout: %d", r.status)
		}
	})
}

// The attack matrix: every forged or stale token is 401 and changes nothing;
// a flood of unknown kids does not become a flood of JWKS fetches.
func TestTokenAttacks(t *testing.T) {
	identityModes(t, func(t *testing.T, e *env, f forger) {
		victim := e.guest()
		var me struct{ ID string }
		e.do("GET", "/auth/me", victim, nil, nil).decode(t, &me)

		// The harness itself must mint a token the server accepts, or the
		// rejections below would prove nothing.
		if r := e.do("GET", "/auth/me", f.sign(f.claims(me.ID)), nil, nil); r.status != 200 {
			t.Fatalf("a correctly signed token was refused: %d %s", r.status, r.body)
		}

		with := func(edit func(c map[string]any)) map[string]any {
			c := f.claims(me.ID)
			edit(c)
			return c
		}
		valid := f.sign(f.claims(me.ID))
		pubDER, _ := x509.MarshalPKIXPublicKey(&testKey().PublicKey)
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		hs256, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubPEM}, nil)
		hsTok, _ := hs256.Sign(mustJSON(f.claims(me.ID)))
		hsCompact, _ := hsTok.CompactSerialize()

		attacks := map[string]string{
			"alg none":             b64json(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64json(f.claims(me.ID)) + ".",
			"HS256 with pubkey":    hsCompact,
			"unknown kid":          signRS256(t, otherKey(), "not-a-key", f.claims(me.ID)),
			"known kid, other key": signRS256(t, otherKey(), kidOf(t, valid), f.claims(me.ID)),
			"wrong issuer":         f.sign(with(func(c map[string]any) { c["iss"] = "http://evil.example" })),
			"wrong audience":       f.sign(with(func(c map[string]any) { c["aud"] = "someone-else" })),
			"expired":              f.sign(with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
			"not yet valid": f.sign(with(func(c map[string]any) {
				c["nbf"] = time.Now().Add(time.Hour).Unix()
				c["iat"] = time.Now().Add(time.Hour).Unix()
			})),
			"truncated": valid[:len(valid)-12],
			"garbage":   "not.a.token",
			"another realm": signRS256(t, otherKey(), "other-realm-kid", with(func(c map[string]any) {
				c["iss"] = strings.Replace(f.iss, "/realms/jan", "/realms/other", 1) + "-other"
			})),
			"ID token, not access": f.sign(with(func(c map[string]any) { c["typ"] = "ID" })),
		}
		for name, tok := range attacks {
			r := e.do("POST", "/v1/conversations", tok, map[string]any{"title": "forged"}, nil)
			if r.status != 401 {
				t.Errorf("%s: %d %s", name, r.status, r.body)
				continue
			}
			if code := r.errorCode(t); code != "invalid_token" && code != "expired_token" {
				t.Errorf("%s: code %q", name, code)
			}
		}
		var list struct{ Data []json.RawMessage }
		e.do("GET", "/v1/conversations", victim, nil, nil).decode(t, &list)
		if len(list.Data) != 0 {
			t.Errorf("forged requests created %d conversations", len(list.Data))
		}

		if e.keycloak != nil {
			before := e.keycloak.JWKSFetches()
			for i := 0; i < 1000; i++ {
				tok := signRS256(t, otherKey(), "flood-"+strings.Repeat("k", i%7)+string(rune('a'+i%26)), f.claims(me.ID))
				if r := e.do("GET", "/v1/models", tok, nil, nil); r.status != 401 {
					t.Fatalf("forged token %d: %d", i, r.status)
				}
			}
			if n := e.keycloak.JWKSFetches() - before; n > 1 {
				t.Errorf("1,000 forged tokens caused %d JWKS fetches, want at most 1", n)
			}
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func kidOf(t *testing.T, token string) string {
	var h struct {
		Kid string `json:"kid"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(token, ".", 2)[0])
	if err != nil || json.Unmarshal(raw, &h) != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.Kid
}
