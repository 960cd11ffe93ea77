package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// BrowserLogin is an identity provider a browser can sign in to: the
// authorization code flow with PKCE S256. The server keeps the state and
// verifier; the provider builds the URL and trades the code.
type BrowserLogin interface {
	AuthCodeURL(redirectURI, state, challenge string) string
	ExchangeCode(ctx context.Context, code, redirectURI, verifier string) (*Tokens, *Account, error)
}

// OIDCClient is jan's OAuth client at an external OpenID provider (--issuer
// with JAN_OIDC_CLIENT_ID): the browser sign-in, the refresh of the tokens
// it got and their revocation at logout. Every token it hands out has
// passed the verifier every request's token passes — the provider's access
// token when it is a JWT jan accepts, else its ID token (a provider whose
// access tokens are opaque or for another API, as Google's are, with
// JAN_OIDC_AUDIENCE set to the client id).
type OIDCClient struct {
	issuer    string
	oauth     oauth2.Config
	revokeURL string // RFC 7009; "" when the provider has none
	hc        *http.Client
	v         Verifier
}

// OIDCClientOptions are jan's client at an external issuer (NewExternal).
type OIDCClientOptions struct {
	ClientID     string   // "": no client (verify only)
	ClientSecret string   // "" for a public client (PKCE alone)
	Scopes       []string // default openid, profile, email
}

// DefaultOIDCScopes are what the browser sign-in asks for unless
// JAN_OIDC_SCOPES says otherwise. offline_access is not among them: some
// providers (Google) refuse it, others (Entra ID, Okta) need it for a
// refresh token.
var DefaultOIDCScopes = []string{oidc.ScopeOpenID, "profile", "email"}

// NewExternal is the identity of an issuer jan does not run: its token
// verifier and, when o names a client, jan's client there — both from one
// fetch of its discovery document. hc nil: a client with its own transport.
func NewExternal(ctx context.Context, hc *http.Client, issuer, audience string, o OIDCClientOptions, opts ...VerifierOption) (External, error) {
	if hc == nil {
		hc = newHTTPClient()
	}
	p, err := discover(ctx, hc, issuer)
	if err != nil {
		return External{}, err
	}
	v, err := verifierFor(ctx, hc, p, issuer, audience, opts...)
	if err != nil {
		return External{}, err
	}
	ext := External{Issuer: issuer, V: v}
	if o.ClientID != "" {
		ext.Client, err = newOIDCClient(p, hc, issuer, v, o)
	}
	return ext, err
}

// newOIDCClient is jan's client at the discovered provider p; v checks the
// tokens the provider returns, as it checks every request's.
func newOIDCClient(p *oidc.Provider, hc *http.Client, issuer string, v Verifier, o OIDCClientOptions) (*OIDCClient, error) {
	var meta struct {
		Revocation string   `json:"revocation_endpoint"`
		Methods    []string `json:"code_challenge_methods_supported"`
	}
	_ = p.Claims(&meta) // optional fields
	ep := p.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return nil, fmt.Errorf("auth: OIDC issuer %s: its discovery document lacks authorization_endpoint or token_endpoint, which the browser sign-in needs", issuer)
	}
	if len(meta.Methods) > 0 && !slices.ContainsFunc(meta.Methods, func(m string) bool { return strings.EqualFold(m, "S256") }) {
		return nil, fmt.Errorf("auth: OIDC issuer %s does not support PKCE S256 (code_challenge_methods_supported: %v), which jan's browser sign-in requires", issuer, meta.Methods)
	}
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = DefaultOIDCScopes
	}
	if o.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams // a public client names itself in the form
	}
	return &OIDCClient{issuer: issuer, revokeURL: meta.Revocation, hc: hc, v: v, oauth: oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: ep, Scopes: scopes}}, nil
}

var _ BrowserLogin = (*OIDCClient)(nil)

// AuthCodeURL is where a browser signs in at the provider.
func (c *OIDCClient) AuthCodeURL(redirectURI, state, challenge string) string {
	return c.oauth.AuthCodeURL(state, oauth2.SetAuthURLParam("redirect_uri", redirectURI),
		oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "S256"))
}

// ExchangeCode trades an authorization code for tokens, proving the PKCE
// verifier. A code the provider refuses is *Error invalid_grant.
func (c *OIDCClient) ExchangeCode(ctx context.Context, code, redirectURI, verifier string) (*Tokens, *Account, error) {
	const what = "could not finish the browser sign-in"
	tok, err := c.oauth.Exchange(c.ctx(ctx), code, oauth2.SetAuthURLParam("redirect_uri", redirectURI), oauth2.VerifierOption(verifier))
	if err != nil {
		if isInvalidGrant(err) {
			return nil, nil, &Error{Code: "invalid_grant", Message: "the identity provider refused the sign-in code; sign in again"}
		}
		return nil, nil, c.problem(what, err)
	}
	return c.accept(ctx, what, tok)
}

// Refresh trades the provider's refresh token for new tokens. One the
// provider refuses is *Error invalid_token.
func (c *OIDCClient) Refresh(ctx context.Context, refreshToken string) (*Tokens, *Account, error) {
	const what = "could not refresh the session"
	if refreshToken == "" {
		return nil, nil, errMissing()
	}
	// An expired token makes the source refresh; a provider that does not
	// rotate refresh tokens keeps the one given.
	tok, err := c.oauth.TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		if isInvalidGrant(err) {
			return nil, nil, &Error{Code: CodeInvalidToken, Message: "invalid or expired refresh token; sign in again (jan login --web)"}
		}
		return nil, nil, c.problem(what, err)
	}
	return c.accept(ctx, what, tok)
}

// Logout revokes the refresh token at the provider (RFC 7009) when it has
// a revocation endpoint; otherwise there is nothing jan can end there, and
// the client forgetting its tokens is the logout.
func (c *OIDCClient) Logout(ctx context.Context, refreshToken string) error {
	if refreshToken == "" || c.revokeURL == "" {
		return nil
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
	if c.oauth.ClientSecret == "" {
		form.Set("client_id", c.oauth.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.revokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return c.problem("could not log out", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.oauth.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(c.oauth.ClientID), url.QueryEscape(c.oauth.ClientSecret))
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return c.problem("could not log out", err)
	}
	defer res.Body.Close()
	// 200 (revoked, or already unknown: RFC 7009 §2.2); 400 invalid_grant
	// or unsupported_token_type from a provider that will not revoke it.
	if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusBadRequest {
		return nil
	}
	return c.problem("could not log out", fmt.Errorf("revocation endpoint answered %s", res.Status))
}

// accept picks the token clients will send jan: the access token if jan's
// verifier accepts it, else the ID token if that passes. A provider whose
// tokens jan accepts neither way is misconfigured for jan (502, with the
// fix in the message).
func (c *OIDCClient) accept(ctx context.Context, what string, tok *oauth2.Token) (*Tokens, *Account, error) {
	bearer := tok.AccessToken
	pr, err := c.v.Verify(ctx, bearer)
	if err != nil {
		if id, _ := tok.Extra("id_token").(string); id != "" {
			if p, idErr := c.v.Verify(ctx, id); idErr == nil {
				pr, bearer, err = p, id, nil
			}
		}
	}
	if err != nil {
		return nil, nil, &Problem{Status: http.StatusBadGateway, Code: CodeIdentityError,
			Message: what + ": the identity provider's tokens are not ones jan accepts; its access token must be a JWT for the audience JAN_OIDC_AUDIENCE names, or set JAN_OIDC_AUDIENCE to the client id (" + c.oauth.ClientID + ") so jan accepts its ID tokens",
			Err:     err}
	}
	expiry := tok.Expiry // zero when the provider said nothing
	if bearer != tok.AccessToken {
		var claims struct {
			Exp int64 `json:"exp"`
		}
		UnverifiedClaims(bearer, &claims) // verified just above
		expiry = time.Unix(claims.Exp, 0)
	}
	expiresIn := 0
	if !expiry.IsZero() {
		expiresIn = max(int(time.Until(expiry)/time.Second), 0)
	}
	return &Tokens{AccessToken: bearer, RefreshToken: tok.RefreshToken, TokenType: "Bearer", ExpiresIn: expiresIn},
		&Account{ID: pr.ID, Username: pr.Username}, nil
}

// ctx carries the client's HTTP client to oauth2's calls.
func (c *OIDCClient) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.hc)
}

// problem is a provider failure as the client sees it: 503 when the
// provider did not answer, else 502.
func (c *OIDCClient) problem(what string, err error) error {
	var ne net.Error
	var re *oauth2.RetrieveError
	switch {
	case errors.Is(err, context.Canceled):
		return &Problem{Status: http.StatusServiceUnavailable, Code: CodeIdentityUnavailable, Message: what + ": cancelled", Err: err}
	case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 500, errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return &Problem{Status: http.StatusServiceUnavailable, Code: CodeIdentityUnavailable,
			Message: what + ": the identity provider (" + c.issuer + ") is unreachable or not answering; try again shortly", Err: err}
	}
	msg := what + ": the identity provider (" + c.issuer + ") returned an error"
	if errors.As(err, &re) && plainErrorCode(re.ErrorCode) {
		msg += " (" + re.ErrorCode + ")"
	}
	return &Problem{Status: http.StatusBadGateway, Code: CodeIdentityError, Message: msg, Err: err}
}

// isInvalidGrant reports the provider refusing a code or refresh token
// itself (RFC 6749 §5.2).
func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// plainErrorCode reports an OAuth error code as providers send them (RFC
// 6749's are lowercase words joined by "_"): anything else is not repeated
// to the client.
func plainErrorCode(code string) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for _, c := range code {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}
