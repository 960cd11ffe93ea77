package keycloak

import (
	"context"
	"net/http"
	"net/url"

	"github.com/janhq/jan/internal/auth"
)

// passwordGrant logs a user in with the public TargetClientID client
// (direct access grants).
func (p *Provider) passwordGrant(ctx context.Context, username, password string) (*tokenResponse, error) {
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {p.cfg.TargetClientID},
		"username":   {username},
		"password":   {password},
	}
	var tr tokenResponse
	if _, err := p.do(ctx, call{op: "token (password)", method: http.MethodPost, url: p.tokenURL, form: form, out: &tr}); err != nil {
		return nil, err
	}
	return &tr, nil
}

// exchangeForUser gets tokens for user id by token exchange (RFC 8693 as
// Keycloak implements impersonation): the backend client presents its
// service-account token as subject_token and names the user as
// requested_subject, asking for a refresh token for TargetClientID.
func (p *Provider) exchangeForUser(ctx context.Context, id string) (*tokenResponse, error) {
	sat, err := p.sa.get(ctx, p)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"client_id":            {p.cfg.BackendClientID},
		"client_secret":        {p.cfg.BackendClientSecret},
		"subject_token":        {sat},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"requested_subject":    {id},
		"requested_token_type": {p.wantTokenType},
		"audience":             {p.cfg.TargetClientID},
	}
	var tr tokenResponse
	if _, err := p.do(ctx, call{op: "token (token-exchange)", method: http.MethodPost, url: p.tokenURL, form: form, out: &tr}); err != nil {
		if statusIs(err, http.StatusBadRequest, http.StatusForbidden) {
			return nil, &exchangeRefused{err}
		}
		return nil, err
	}
	return &tr, nil
}

// exchangeRefused says what to change when Keycloak will not impersonate.
type exchangeRefused struct{ err error }

func (e *exchangeRefused) Error() string {
	return e.err.Error() + " (Keycloak refused to impersonate the new guest: enable its legacy token exchange, features token-exchange and admin-fine-grained-authz:v1, and allow \"backend\" to exchange to the target client; or set " + EnvGuestGrant + "=" + GuestGrantPassword + ")"
}

func (e *exchangeRefused) Unwrap() error { return e.err }

// clientAuth returns the client credentials for a refresh or logout request
// with refreshToken: Keycloak only accepts them from the client the token
// was issued to (its azp). Tokens jan hands out belong to TargetClientID (a
// public client: client_id alone); one issued to the backend client gets
// its secret. The token is only peeked at, not trusted: Keycloak checks it.
func (p *Provider) clientAuth(refreshToken string) url.Values {
	if refreshAZP(refreshToken) == p.cfg.BackendClientID {
		return url.Values{"client_id": {p.cfg.BackendClientID}, "client_secret": {p.cfg.BackendClientSecret}}
	}
	return url.Values{"client_id": {p.cfg.TargetClientID}}
}

// refreshAZP returns the azp claim of a JWT-shaped refresh token (Keycloak's
// are), or "".
func refreshAZP(token string) string {
	var c struct {
		AZP string `json:"azp"`
	}
	auth.UnverifiedClaims(token, &c)
	return c.AZP
}
