package keycloak

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/janhq/jan/internal/auth"
)

// Provider is jan's identity provider in Keycloak mode: guests are Keycloak
// users created with the backend client's service account, tokens are
// Keycloak's, and verification is the shared go-oidc verifier over the
// realm's JWKS.
type Provider struct {
	cfg      Config
	http     *http.Client
	verifier auth.Verifier

	issuer        string
	tokenURL      string
	logoutURL     string
	authURL       string // where a browser signs in (authorization code flow)
	jwksURL       string
	adminURL      string // {BaseURL}/admin/realms/{realm}
	wantTokenType string // requested_token_type of the guest exchange

	sa    serviceToken
	roles roleCache
}

var _ auth.IdentityProvider = (*Provider)(nil)

// New reads the realm's discovery document (so Keycloak must be up: the
// caller retries or fails startup with the error) and prepares the provider.
// It does not check the client secret; Ready does.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// Its own transport: nothing else in the process (an
		// http.DefaultTransport.CloseIdleConnections, say) can break a
		// non-idempotent Admin API call mid-flight.
		hc = &http.Client{Timeout: callTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	p := &Provider{
		cfg:           cfg,
		http:          hc,
		issuer:        cfg.IssuerURL(),
		adminURL:      cfg.BaseURL + "/admin/realms/" + url.PathEscape(cfg.Realm),
		wantTokenType: "urn:ietf:params:oauth:token-type:refresh_token",
	}

	var disc struct {
		Issuer             string `json:"issuer"`
		AuthEndpoint       string `json:"authorization_endpoint"`
		TokenEndpoint      string `json:"token_endpoint"`
		EndSessionEndpoint string `json:"end_session_endpoint"`
		JWKSURI            string `json:"jwks_uri"`
	}
	_, err := p.do(ctx, call{op: "GET discovery document", method: http.MethodGet,
		url: p.issuer + "/.well-known/openid-configuration", out: &disc})
	if err != nil {
		return nil, fmt.Errorf("keycloak: realm %q at %s: %w", cfg.Realm, cfg.BaseURL, err)
	}
	if disc.Issuer != p.issuer {
		return nil, fmt.Errorf("keycloak: realm %q names its issuer %q, but %s gives %q: set %s to the address Keycloak uses in its tokens (its hostname setting)",
			cfg.Realm, disc.Issuer, EnvBaseURL, p.issuer, EnvBaseURL)
	}
	if disc.TokenEndpoint == "" || disc.JWKSURI == "" {
		return nil, fmt.Errorf("keycloak: realm %q: discovery document lacks token_endpoint or jwks_uri", cfg.Realm)
	}
	p.tokenURL, p.jwksURL = disc.TokenEndpoint, disc.JWKSURI
	p.logoutURL = orDefault(disc.EndSessionEndpoint, p.issuer+"/protocol/openid-connect/logout")
	p.authURL = orDefault(disc.AuthEndpoint, p.issuer+"/protocol/openid-connect/auth")

	// JWKS refetches are limited inside the verifier (auth.NewOIDCVerifier).
	p.verifier, err = auth.NewOIDCVerifier(ctx, &http.Client{Transport: hc.Transport, Timeout: callTimeout}, p.issuer, cfg.TargetClientID)
	if err != nil {
		return nil, fmt.Errorf("keycloak: %w", err)
	}
	return p, nil
}

// Verifier checks access tokens of the realm whose audience includes
// TargetClientID.
func (p *Provider) Verifier() auth.Verifier { return p.verifier }

// Issuer is the realm's issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// Ready checks that Keycloak answers and that jan's client credentials work:
// it fetches the JWKS and a service-account token (cached, so a probe every
// few seconds costs Keycloak one JWKS request each). For /readyz.
func (p *Provider) Ready(ctx context.Context) error {
	if _, err := p.do(ctx, call{op: "GET JWKS", method: http.MethodGet, url: p.jwksURL}); err != nil {
		return problem("identity provider not ready", err)
	}
	if _, err := p.sa.get(ctx, p); err != nil {
		return problem("identity provider not ready", err)
	}
	return nil
}

// Guest creates a Keycloak user "guest-<random>" with attribute guest=true
// and realm role GuestRole, and returns its first tokens. If any step after
// the user exists fails, the user is deleted again.
func (p *Provider) Guest(ctx context.Context) (*auth.Tokens, *auth.Account, error) {
	const what = "could not create a guest account"
	var id, username, password string
	for attempt := 0; ; attempt++ {
		name, err := randomName()
		if err != nil {
			return nil, nil, err
		}
		username = "guest-" + name
		rep := UserRepresentation{
			Username:   username,
			Enabled:    ptr(true),
			Attributes: map[string][]string{"guest": {"true"}},
		}
		if p.cfg.GuestGrant == GuestGrantPassword {
			if password, err = randomSecret(); err != nil {
				return nil, nil, err
			}
			rep.Credentials = []CredentialRepresentation{{Type: "password", Value: password, Temporary: ptr(false)}}
		}
		id, err = p.createUser(ctx, rep)
		if err == nil {
			break
		}
		// A taken name is unlikely (32^8 names); try another a few times.
		if !statusIs(err, http.StatusConflict) || attempt == 3 {
			return nil, nil, problem(what, err)
		}
	}

	toks, acct, err := p.finishGuest(ctx, id, username, password)
	if err != nil {
		if derr := p.deleteUserDetached(ctx, id); derr != nil {
			err = errors.Join(err, fmt.Errorf("keycloak: cleanup left guest user %s behind (attribute guest=true, no guest role): %w", id, derr))
		}
		return nil, nil, problem(what, err)
	}
	return toks, acct, nil
}

func (p *Provider) finishGuest(ctx context.Context, id, username, password string) (*auth.Tokens, *auth.Account, error) {
	role, err := p.realmRole(ctx, p.cfg.GuestRole)
	if err != nil {
		return nil, nil, err
	}
	if err := p.addRealmRoles(ctx, id, role); err != nil {
		return nil, nil, err
	}
	var tr *tokenResponse
	if p.cfg.GuestGrant == GuestGrantPassword {
		tr, err = p.passwordGrant(ctx, username, password)
	} else {
		tr, err = p.exchangeForUser(ctx, id)
	}
	if err != nil {
		return nil, nil, err
	}
	toks, pr, err := p.checkTokens(ctx, tr)
	if err != nil {
		return nil, nil, err
	}
	if pr.ID != id {
		return nil, nil, fmt.Errorf("keycloak: tokens for guest %s name subject %s", id, pr.ID)
	}
	return toks, &auth.Account{ID: pr.ID, Username: orDefault(pr.Username, username), Guest: pr.IsGuest}, nil
}

// Refresh trades a refresh token for new ones at the realm's token endpoint.
// The realm revokes refresh tokens on use, so the old one stops working. A
// token Keycloak refuses (unknown, used, logged out, expired) is
// *auth.Error invalid_token.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (*auth.Tokens, *auth.Account, error) {
	const what = "could not refresh the session"
	if refreshToken == "" {
		return nil, nil, &auth.Error{Code: auth.CodeMissingToken, Message: "missing refresh token"}
	}
	form := p.clientAuth(refreshToken)
	form.Set("grant_type", "refresh_token")
	form.Set("refresh_token", refreshToken)
	var tr tokenResponse
	_, err := p.do(ctx, call{op: "token (refresh_token)", method: http.MethodPost, url: p.tokenURL, form: form, out: &tr})
	if err != nil {
		if isInvalidGrant(err) {
			return nil, nil, errInvalidRefresh()
		}
		return nil, nil, problem(what, err)
	}
	toks, pr, err := p.checkTokens(ctx, &tr)
	if err != nil {
		return nil, nil, problem(what, err)
	}
	return toks, &auth.Account{ID: pr.ID, Username: pr.Username, Guest: pr.IsGuest}, nil
}

// Upgrade turns the guest pr into a user: it checks the request
// (auth.ValidateUpgrade) and that the username and email are free, sets the
// password, username, email and guest=false, swaps the guest role for
// "user", ends the guest's sessions (so its refresh tokens die) and logs in
// with the new password. The Keycloak user, and so the principal ID, stays
// the same. Until the guest role is gone the upgrade can be retried with the
// guest's token; after that the account is a user (409 not_a_guest).
func (p *Provider) Upgrade(ctx context.Context, pr *auth.Principal, u auth.Upgrade) (*auth.Tokens, *auth.Account, error) {
	const what = "could not upgrade the account"
	if err := auth.ValidateUpgrade(u); err != nil {
		return nil, nil, err
	}
	if pr == nil || !pr.IsGuest {
		return nil, nil, errNotAGuest()
	}
	id := pr.ID

	mapped, err := p.userRealmRoles(ctx, id)
	if statusIs(err, http.StatusNotFound) {
		return nil, nil, &auth.Error{Code: auth.CodeInvalidToken, Message: "account no longer exists"}
	}
	if err != nil {
		return nil, nil, problem(what, err)
	}
	var guestRole *RoleRepresentation
	for i := range mapped {
		if mapped[i].Name == p.cfg.GuestRole {
			guestRole = &mapped[i]
		}
	}
	if guestRole == nil {
		return nil, nil, errNotAGuest()
	}

	if taken, err := p.taken(ctx, id, "username", u.Username); err != nil {
		return nil, nil, problem(what, err)
	} else if taken {
		return nil, nil, errUsernameTaken(u.Username)
	}
	if taken, err := p.taken(ctx, id, "email", u.Email); err != nil {
		return nil, nil, problem(what, err)
	} else if taken {
		return nil, nil, errEmailTaken(u.Email)
	}

	// The password first: a realm password policy stricter than jan's
	// refuses it here, before anything the user can see has changed.
	if err := p.resetPassword(ctx, id, u.Password); err != nil {
		if statusIs(err, http.StatusBadRequest) {
			var ce *callError
			errors.As(err, &ce)
			msg := "password rejected by the identity provider's password policy"
			if ce.Desc != "" {
				msg += ": " + ce.Desc
			}
			return nil, nil, &auth.Problem{Status: http.StatusBadRequest, Code: CodeWeakPassword, Param: "password", Message: msg, Err: err}
		}
		return nil, nil, problem(what, err)
	}

	rep, err := p.getUser(ctx, id)
	if err != nil {
		return nil, nil, problem(what, err)
	}
	rep.Username = u.Username
	rep.Email = u.Email
	rep.EmailVerified = ptr(false)
	if rep.Attributes == nil {
		rep.Attributes = map[string][]string{}
	}
	rep.Attributes["guest"] = []string{"false"}
	if err := p.updateUser(ctx, id, rep); err != nil {
		var ce *callError
		if errors.As(err, &ce) && ce.Status == http.StatusConflict {
			if strings.Contains(strings.ToLower(ce.Code), "email") {
				return nil, nil, errEmailTaken(u.Email)
			}
			return nil, nil, errUsernameTaken(u.Username)
		}
		return nil, nil, problem(what, err)
	}

	userRole, err := p.realmRole(ctx, auth.ScopeUser)
	if err != nil {
		return nil, nil, problem(what, err)
	}
	if err := p.addRealmRoles(ctx, id, userRole); err != nil {
		return nil, nil, problem(what, err)
	}
	if err := p.removeRealmRoles(ctx, id, *guestRole); err != nil {
		return nil, nil, problem(what, err)
	}

	// From here on the account is a user. The guest's sessions end so its
	// refresh tokens stop working; its access tokens live until they expire.
	const after = "the account was upgraded, but fresh tokens could not be issued; sign in with the new password"
	if err := p.logoutUser(ctx, id); err != nil {
		return nil, nil, problem(after, err)
	}
	tr, err := p.passwordGrant(ctx, u.Username, u.Password)
	if err != nil {
		return nil, nil, problem(after, err)
	}
	toks, pr2, err := p.checkTokens(ctx, tr)
	if err != nil {
		return nil, nil, problem(after, err)
	}
	if pr2.ID != id {
		return nil, nil, problem(after, fmt.Errorf("keycloak: tokens for upgraded user %s name subject %s", id, pr2.ID))
	}
	return toks, &auth.Account{ID: id, Username: pr2.Username, Email: strings.ToLower(u.Email), Guest: pr2.IsGuest}, nil
}

// Logout ends the Keycloak session the refresh token belongs to, so it and
// every other refresh token of that session stop working. An unknown, used
// or already logged-out token is not an error.
func (p *Provider) Logout(ctx context.Context, refreshToken string) error {
	if refreshToken == "" {
		return nil
	}
	form := p.clientAuth(refreshToken)
	form.Set("refresh_token", refreshToken)
	_, err := p.do(ctx, call{op: "logout", method: http.MethodPost, url: p.logoutURL, form: form})
	if err != nil && !isInvalidGrant(err) {
		return problem("could not log out", err)
	}
	return nil
}

// AuthCodeURL is where a browser signs in to the realm: the authorization
// code flow on the llm-api client, scope openid, with the PKCE S256
// challenge of the caller's verifier.
func (p *Provider) AuthCodeURL(redirectURI, state, challenge string) string {
	q := url.Values{
		"client_id":             {p.cfg.TargetClientID},
		"response_type":         {"code"},
		"scope":                 {"openid"},
		"redirect_uri":          {redirectURI},
		"state":                 {state},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(p.authURL, "?") {
		sep = "&"
	}
	return p.authURL + sep + q.Encode()
}

// ExchangeCode trades an authorization code for tokens, proving the PKCE
// verifier. A code Keycloak refuses (unknown, used, expired, the wrong
// verifier or redirect) is *auth.Error invalid_grant.
func (p *Provider) ExchangeCode(ctx context.Context, code, redirectURI, verifier string) (*auth.Tokens, *auth.Account, error) {
	form := url.Values{"client_id": {p.cfg.TargetClientID}, "grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	var tr tokenResponse
	if _, err := p.do(ctx, call{op: "token (authorization_code)", method: http.MethodPost, url: p.tokenURL, form: form, out: &tr}); err != nil {
		if isInvalidGrant(err) {
			return nil, nil, &auth.Error{Code: "invalid_grant", Message: "the identity provider refused the sign-in code; sign in again"}
		}
		return nil, nil, problem("could not finish the browser sign-in", err)
	}
	toks, pr, err := p.checkTokens(ctx, &tr)
	if err != nil {
		return nil, nil, problem("could not finish the browser sign-in", err)
	}
	return toks, &auth.Account{ID: pr.ID, Username: pr.Username, Guest: pr.IsGuest}, nil
}

// checkTokens verifies the access token Keycloak just issued with jan's own
// verifier, which also warms its cache for the client's first request. A
// token jan cannot verify means a misconfiguration (issuer address,
// audience mapper), reported as 502.
func (p *Provider) checkTokens(ctx context.Context, tr *tokenResponse) (*auth.Tokens, *auth.Principal, error) {
	if tr.AccessToken == "" || tr.RefreshToken == "" {
		return nil, nil, &callError{Op: "token", Status: http.StatusOK, Err: fmt.Errorf("%w: no access or refresh token in the answer", errGarbage)}
	}
	pr, err := p.verifier.Verify(ctx, tr.AccessToken)
	if err != nil {
		return nil, nil, fmt.Errorf("keycloak: issued an access token jan refuses (%v): check that %s matches Keycloak's issuer and that the realm's %q client adds itself to the audience",
			err, EnvBaseURL, p.cfg.TargetClientID)
	}
	return &auth.Tokens{
		AccessToken:  tr.AccessToken,
		RefreshToken: tr.RefreshToken,
		TokenType:    "Bearer",
		ExpiresIn:    tr.ExpiresIn,
	}, pr, nil
}

func errNotAGuest() *auth.Problem {
	return &auth.Problem{Status: http.StatusConflict, Code: CodeNotAGuest, Message: "only a guest account can be upgraded; this account already has credentials"}
}

func errUsernameTaken(name string) *auth.Problem {
	return &auth.Problem{Status: http.StatusConflict, Code: CodeUsernameTaken, Param: "username", Message: fmt.Sprintf("username %q is taken", name)}
}

func errEmailTaken(email string) *auth.Problem {
	return &auth.Problem{Status: http.StatusConflict, Code: CodeEmailTaken, Param: "email", Message: fmt.Sprintf("email %q is already used by another account", email)}
}

// isInvalidGrant reports a token or logout request Keycloak refused because
// of the token itself (RFC 6749 invalid_grant; Keycloak answers 400, or 401
// for some refresh failures).
func isInvalidGrant(err error) bool {
	var ce *callError
	return errors.As(err, &ce) && (ce.Status == http.StatusBadRequest || ce.Status == http.StatusUnauthorized) && ce.Code == "invalid_grant"
}

// randomName returns 8 characters from [a-z2-7]: 32 symbols, so a byte maps
// to one without bias.
func randomName() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("keycloak: random: %w", err)
	}
	for k := range b {
		b[k] = alphabet[int(b[k])%len(alphabet)]
	}
	return string(b), nil
}

// randomSecret returns 32 random bytes, base64url: a guest's throwaway
// password in GuestGrantPassword mode.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("keycloak: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func ptr[T any](v T) *T { return &v }

// roleCache remembers realm roles by name: their ids do not change while
// the realm lives, and mapping needs the id.
type roleCache struct {
	mu sync.Mutex
	m  map[string]RoleRepresentation
}

func (c *roleCache) get(name string) (RoleRepresentation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[name]
	return r, ok
}

func (c *roleCache) put(r RoleRepresentation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]RoleRepresentation{}
	}
	c.m[r.Name] = r
}

func (c *roleCache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
}
