package keycloaktest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
	grantRefresh           = "refresh_token"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantAuthorizationCode = "authorization_code"

	tokenTypeAccess  = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeRefresh = "urn:ietf:params:oauth:token-type:refresh_token"
)

func (d *Double) discovery(w http.ResponseWriter, r *http.Request) {
	iss := d.issuer(r)
	oidc := iss + "/protocol/openid-connect"
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                oidc + "/auth",
		"token_endpoint":                        oidc + "/token",
		"introspection_endpoint":                oidc + "/token/introspect",
		"userinfo_endpoint":                     oidc + "/userinfo",
		"end_session_endpoint":                  oidc + "/logout",
		"revocation_endpoint":                   oidc + "/revoke",
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"jwks_uri":                              oidc + "/certs",
		"grant_types_supported":                 []string{"authorization_code", "implicit", grantRefresh, grantPassword, grantClientCredentials, grantTokenExchange},
		"response_types_supported":              []string{"code", "none", "id_token", "token", "id_token token", "code id_token", "code token", "code id_token token"},
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []string{"PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512", "PS256", "PS512", "RS512"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "client_secret_basic", "client_secret_post", "tls_client_auth", "client_secret_jwt"},
		"scopes_supported":                      []string{"openid", "profile", "email", "roles", "web-origins", "acr", "basic", "offline_access"},
		"claims_supported":                      []string{"aud", "sub", "iss", "auth_time", "name", "given_name", "family_name", "preferred_username", "email", "acr"},
		"backchannel_logout_supported":          true,
	})
}

func (d *Double) certs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(d.jwks)
}

func parseForm(body []byte) (url.Values, error) { return url.ParseQuery(string(body)) }

// authClient authenticates the calling client (client_secret_basic or
// client_secret_post; a public client sends client_id alone). Called with d.mu held.
func (d *Double) authClient(r *http.Request, form url.Values) (*client, int, string, string) {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, http.StatusBadRequest, "invalid_client", "Missing parameter: client_id"
	}
	c, ok := d.clients[id]
	if !ok {
		return nil, http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials"
	}
	if !c.enabled {
		return nil, http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials"
	}
	if !c.public && (secret == "" || secret != c.secret) {
		return nil, http.StatusUnauthorized, "unauthorized_client", "Invalid client or Invalid client credentials"
	}
	return c, 0, "", ""
}

func (d *Double) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid form")
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	if grant == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, status, code, desc := d.authClient(r, form)
	if c == nil {
		oauthError(w, status, code, desc)
		return
	}
	switch grant {
	case grantClientCredentials:
		d.clientCredentials(w, r, c)
	case grantPassword:
		d.password(w, r, c, form)
	case grantRefresh:
		d.refresh(w, r, c, form)
	case grantTokenExchange:
		d.exchange(w, r, c, form)
	case grantAuthorizationCode:
		d.authorizationCode(w, r, c, form)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
	}
}

func (d *Double) clientCredentials(w http.ResponseWriter, r *http.Request, c *client) {
	if c.public {
		oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Public client not allowed to retrieve service account")
		return
	}
	if !c.serviceAccounts {
		oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Client not enabled to retrieve service account")
		return
	}
	sa := d.users[c.saUser]
	access, err := d.accessToken(r, sa, c, randomUUID())
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "unknown_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       access,
		"expires_in":         int(d.settings.accessTTL / time.Second),
		"refresh_expires_in": 0,
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"scope":              "profile email",
	})
}

func (d *Double) password(w http.ResponseWriter, r *http.Request, c *client, form url.Values) {
	if !c.directAccess {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", "Client not allowed for direct access grants")
		return
	}
	name := form.Get("username")
	u := d.findUserLocked("username", name)
	if u == nil && d.settings.loginWithEmailAllowed {
		u = d.findUserLocked("email", name)
	}
	if u == nil || u.serviceAccountClient != "" || u.passwordHash == "" || u.passwordHash != hashPassword(u.id, form.Get("password")) {
		oauthError(w, http.StatusUnauthorized, "invalid_grant", "Invalid user credentials")
		return
	}
	if !u.enabled {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Account disabled")
		return
	}
	if len(u.requiredActions) > 0 {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Account is not fully set up")
		return
	}
	d.issueSession(w, r, u, c, "")
}

// issueSession starts a session for u at c and answers with its tokens.
func (d *Double) issueSession(w http.ResponseWriter, r *http.Request, u *user, c *client, issuedType string) {
	s := &session{id: randomUUID(), userID: u.id, clientID: c.clientID}
	d.sessions[s.id] = s
	d.answerTokens(w, r, u, c, s, issuedType)
}

func (d *Double) answerTokens(w http.ResponseWriter, r *http.Request, u *user, c *client, s *session, issuedType string) {
	access, err := d.accessToken(r, u, c, s.id)
	if err == nil {
		var refresh string
		refresh, err = d.refreshToken(r, u, c, s)
		if err == nil {
			body := map[string]any{
				"access_token":       access,
				"expires_in":         int(d.settings.accessTTL / time.Second),
				"refresh_expires_in": int(d.settings.refreshTTL / time.Second),
				"refresh_token":      refresh,
				"token_type":         "Bearer",
				"not-before-policy":  0,
				"session_state":      s.id,
				"scope":              "profile email",
			}
			if issuedType != "" {
				body["issued_token_type"] = issuedType
			}
			writeJSON(w, http.StatusOK, body)
			return
		}
	}
	oauthError(w, http.StatusInternalServerError, "unknown_error", err.Error())
}

func (d *Double) refresh(w http.ResponseWriter, r *http.Request, c *client, form url.Values) {
	rc, err := d.parseRefresh(r, form.Get("refresh_token"))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	}
	if time.Unix(rc.Expiry, 0).Before(d.now()) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Token is not active")
		return
	}
	if rc.AZP != c.clientID {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match")
		return
	}
	s, ok := d.sessions[rc.SID]
	if !ok || s.userID != rc.Subject {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Session not active")
		return
	}
	if d.settings.revokeRefreshToken && rc.ID != s.refreshJTI {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Maximum allowed refresh token reuse exceeded")
		return
	}
	u, ok := d.users[rc.Subject]
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "User not found")
		return
	}
	if !u.enabled {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "User disabled")
		return
	}
	d.answerTokens(w, r, u, c, s, "")
}

// exchange is Keycloak's legacy (V1) token exchange as jan uses it: a
// confidential client trades a token it holds for one of another user
// (requested_subject, impersonation) at another client (audience).
func (d *Double) exchange(w http.ResponseWriter, r *http.Request, c *client, form url.Values) {
	if c.public {
		oauthError(w, http.StatusBadRequest, "invalid_client", "Public client is not allowed to exchange token")
		return
	}
	subjectType := orDefault(form.Get("subject_token_type"), tokenTypeAccess)
	if subjectType != tokenTypeAccess {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid token type, must be access token")
		return
	}
	subject, err := d.parseAccess(r, form.Get("subject_token"))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_token", "Invalid token")
		return
	}
	if subject.AZP != c.clientID && !slices.Contains(subject.Audience, c.clientID) {
		oauthError(w, http.StatusForbidden, "access_denied", "Client is not within the token audience")
		return
	}
	requested := form.Get("requested_subject")
	if requested == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "this double only emulates impersonation (requested_subject)")
		return
	}
	if d.opts.StandardTokenExchangeOnly {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Parameter 'requested_subject' is not supported for standard token exchange")
		return
	}
	// Impersonation needs the requesting client's service account to hold
	// realm-management's impersonation role.
	if sa := d.users[c.saUser]; sa == nil || !sa.clientRoles["realm-management"]["impersonation"] {
		oauthError(w, http.StatusForbidden, "access_denied", "Client not allowed to exchange")
		return
	}
	target := c
	if aud := form.Get("audience"); aud != "" {
		t, ok := d.clients[aud]
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_client", "Audience not found")
			return
		}
		target = t
	}
	u, ok := d.users[requested]
	if !ok {
		u = d.findUserLocked("username", requested)
	}
	if u == nil || u.serviceAccountClient != "" {
		oauthError(w, http.StatusBadRequest, "invalid_token", "requested_subject not found")
		return
	}
	if !u.enabled {
		oauthError(w, http.StatusBadRequest, "invalid_request", "User disabled")
		return
	}
	switch want := orDefault(form.Get("requested_token_type"), tokenTypeAccess); want {
	case tokenTypeRefresh:
		d.issueSession(w, r, u, target, tokenTypeRefresh)
	case tokenTypeAccess:
		access, err := d.accessToken(r, u, target, randomUUID())
		if err != nil {
			oauthError(w, http.StatusInternalServerError, "unknown_error", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": access, "expires_in": int(d.settings.accessTTL / time.Second),
			"token_type": "Bearer", "issued_token_type": tokenTypeAccess, "not-before-policy": 0,
		})
	default:
		oauthError(w, http.StatusBadRequest, "invalid_request", "requested_token_type unsupported")
	}
}

// logout ends the session of a refresh token (RP-initiated logout with a
// refresh token, as Keycloak's endpoint accepts from a back end).
func (d *Double) logout(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.formClient(w, r)
	if c == nil {
		return
	}
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "No refresh token")
		return
	}
	rc, err := d.parseRefresh(r, raw)
	if err != nil || rc.AZP != c.clientID {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	}
	if _, ok := d.sessions[rc.SID]; !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Session not active")
		return
	}
	delete(d.sessions, rc.SID)
	w.WriteHeader(http.StatusNoContent)
}

// formClient reads a form post and authenticates the client that sent it;
// nil when either fails, with the error answered. Called with d.mu held.
func (d *Double) formClient(w http.ResponseWriter, r *http.Request) *client {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid form")
		return nil
	}
	c, status, code, desc := d.authClient(r, r.PostForm)
	if c == nil {
		oauthError(w, status, code, desc)
	}
	return c
}

// revoke is RFC 7009 token revocation, as Keycloak answers it for a
// refresh token: its session ends; a token that is not (or no longer)
// valid is answered 200 as well.
func (d *Double) revoke(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.formClient(w, r)
	if c == nil {
		return
	}
	raw := r.PostForm.Get("token")
	if raw == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Token not provided")
		return
	}
	if rc, err := d.parseRefresh(r, raw); err == nil && rc.AZP == c.clientID {
		delete(d.sessions, rc.SID)
	}
	w.WriteHeader(http.StatusOK)
}

// effectiveRealmRoles expands composites of u's direct realm roles.
func (d *Double) effectiveRealmRoles(u *user) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		if ro, ok := d.roles[name]; ok {
			for _, c := range ro.composites {
				walk(c)
			}
		}
	}
	for r := range u.realmRoles {
		walk(r)
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// accessToken mints an access token for u at client c the way Keycloak
// does with the default client scopes (profile, email, roles, basic) plus
// c's protocol mappers.
func (d *Double) accessToken(r *http.Request, u *user, c *client, sid string) (string, error) {
	now := d.now()
	claims := map[string]any{
		"exp":                now.Add(d.settings.accessTTL).Unix(),
		"iat":                now.Unix(),
		"jti":                randomUUID(),
		"iss":                d.issuer(r),
		"sub":                u.id,
		"typ":                "Bearer",
		"azp":                c.clientID,
		"sid":                sid,
		"acr":                "1",
		"scope":              "profile email",
		"email_verified":     u.emailVerified,
		"preferred_username": u.username,
		"realm_access":       map[string]any{"roles": d.effectiveRealmRoles(u)},
	}
	if u.email != "" {
		claims["email"] = u.email
	}
	if n := strings.TrimSpace(u.firstName + " " + u.lastName); n != "" {
		claims["name"] = n
	}
	var aud []string
	if len(u.clientRoles) > 0 {
		ra := map[string]any{}
		for cid, rs := range u.clientRoles {
			var roles []string
			for r := range rs {
				roles = append(roles, r)
			}
			sort.Strings(roles)
			ra[cid] = map[string]any{"roles": roles}
			aud = append(aud, cid)
		}
		claims["resource_access"] = ra
	}
	if u.serviceAccountClient != "" {
		claims["client_id"] = u.serviceAccountClient
	}
	for _, m := range c.mappers {
		if m.Config["access.token.claim"] != "true" {
			continue
		}
		switch m.ProtocolMapper {
		case "oidc-audience-mapper":
			if a := m.Config["included.client.audience"]; a != "" && !slices.Contains(aud, a) {
				aud = append(aud, a)
			}
		case "oidc-usermodel-attribute-mapper":
			vals := u.attributes[m.Config["user.attribute"]]
			if len(vals) == 0 {
				continue
			}
			if m.Config["multivalued"] == "true" {
				var out []any
				for _, v := range vals {
					out = append(out, typed(v, m.Config["jsonType.label"]))
				}
				setClaim(claims, m.Config["claim.name"], out)
			} else {
				setClaim(claims, m.Config["claim.name"], typed(vals[0], m.Config["jsonType.label"]))
			}
		case "oidc-usermodel-property-mapper":
			var v any
			switch m.Config["user.attribute"] {
			case "username":
				v = u.username
			case "email":
				v = u.email
			case "firstName":
				v = u.firstName
			case "lastName":
				v = u.lastName
			case "emailVerified":
				v = u.emailVerified
			}
			if v != nil && v != "" {
				setClaim(claims, m.Config["claim.name"], typed(v, m.Config["jsonType.label"]))
			}
		}
	}
	switch len(aud) {
	case 0:
	case 1:
		claims["aud"] = aud[0] // Keycloak writes a single audience as a string
	default:
		sort.Strings(aud)
		claims["aud"] = aud
	}
	return d.signRS256(claims)
}

// typed converts a mapper value to its jsonType.label, as Keycloak's
// OIDCAttributeMapperHelper does.
func typed(v any, label string) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch strings.ToLower(label) {
	case "boolean":
		return strings.EqualFold(s, "true")
	case "int", "long":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

// setClaim sets a possibly nested ("a.b") claim name.
func setClaim(claims map[string]any, name string, v any) {
	if name == "" {
		return
	}
	parts := strings.Split(name, ".")
	m := claims
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

type refreshClaims struct {
	Expiry  int64  `json:"exp"`
	ID      string `json:"jti"`
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Type    string `json:"typ"`
	AZP     string `json:"azp"`
	SID     string `json:"sid"`
}

// refreshToken mints the session's next refresh token (HS512, like
// Keycloak's) and makes it the only one that works.
func (d *Double) refreshToken(r *http.Request, u *user, c *client, s *session) (string, error) {
	now := d.now()
	jti := randomUUID()
	payload, err := json.Marshal(map[string]any{
		"exp": now.Add(d.settings.refreshTTL).Unix(), "iat": now.Unix(), "jti": jti,
		"iss": d.issuer(r), "aud": d.issuer(r), "sub": u.id, "typ": "Refresh",
		"azp": c.clientID, "sid": s.id, "scope": "profile email",
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS512, Key: jose.JSONWebKey{Key: d.hmacKey, KeyID: d.hmacKid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	s.refreshJTI = jti
	return jws.CompactSerialize()
}

func (d *Double) parseRefresh(r *http.Request, raw string) (*refreshClaims, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.HS512})
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(d.hmacKey)
	if err != nil {
		return nil, err
	}
	var c refreshClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	if c.Type != "Refresh" || c.Issuer != d.issuer(r) {
		return nil, errors.New("not a refresh token of this realm")
	}
	return &c, nil
}

type accessClaims struct {
	Expiry   int64    `json:"exp"`
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Type     string   `json:"typ"`
	AZP      string   `json:"azp"`
	Audience audience `json:"aud"`
}

// audience reads aud as a string or an array.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = []string{s}
		return nil
	}
	var l []string
	err := json.Unmarshal(b, &l)
	*a = l
	return err
}

// parseAccess checks an access token of this realm: signature, issuer,
// expiry, type.
func (d *Double) parseAccess(r *http.Request, raw string) (*accessClaims, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(&d.key.PublicKey)
	if err != nil {
		return nil, err
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	if c.Issuer != d.issuer(r) || c.Type != "Bearer" || !time.Unix(c.Expiry, 0).After(d.now()) {
		return nil, errors.New("token not active")
	}
	return &c, nil
}

func (d *Double) signRS256(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: d.key, KeyID: d.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
