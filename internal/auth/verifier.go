package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Verifier turns a bearer token into a Principal. Refusals are *Error.
type Verifier interface {
	Verify(ctx context.Context, rawToken string) (*Principal, error)
}

const (
	// MaxTokenLen refuses absurd tokens before hashing or parsing them.
	// Keycloak access tokens with many roles stay well under 8 KiB.
	MaxTokenLen = 16 << 10
	// defaultCacheSize bounds the verified-token cache (~200 B an entry).
	defaultCacheSize = 10000
)

// oidcVerifier is the one verification path for both modes: go-oidc checks
// the signature (RS256 only), iss, aud, exp and nbf; claims then map to a
// Principal.
type oidcVerifier struct {
	v     *oidc.IDTokenVerifier
	cache *tokenCache
	// ended, when set, reports whether a session has ended: a token naming
	// one is refused although it has not expired (embedded issuer).
	ended func(sid string) bool
	// usernameClaim names the claim read as the username; ""
	// preferred_username.
	usernameClaim string
}

// VerifierOption adjusts NewOIDCVerifier.
type VerifierOption func(*oidcVerifier)

// UsernameClaim reads the username from the named claim instead of
// preferred_username (e.g. "email", "upn" for Entra ID); "" keeps
// preferred_username. A token without it has no username.
func UsernameClaim(name string) VerifierOption {
	return func(v *oidcVerifier) { v.usernameClaim = name }
}

// ClockSkew is how far apart the issuer's clock and jan's may be.
const ClockSkew = 30 * time.Second

// newVerifier builds the verifier over keys. audience "" skips the aud check.
func newVerifier(issuerURL, audience string, keys oidc.KeySet, now func() time.Time, cacheSize int) *oidcVerifier {
	if now == nil {
		now = time.Now
	}
	cfg := &oidc.Config{
		ClientID:             audience,
		SkipClientIDCheck:    audience == "",
		SupportedSigningAlgs: []string{oidc.RS256},
		// A token stays good ClockSkew past its exp: the issuer's clock
		// and ours may differ a little. (go-oidc allows 5 min on nbf.)
		Now: func() time.Time { return now().Add(-ClockSkew) },
	}
	return &oidcVerifier{
		v:     oidc.NewVerifier(issuerURL, keys, cfg),
		cache: newTokenCache(cacheSize, now),
	}
}

// NewOIDCVerifier verifies tokens of an external issuer (Keycloak). It reads
// the issuer's discovery document now, so the issuer must be reachable (the
// caller retries or fails startup); the JWKS is fetched lazily and refetched
// when a token names an unknown key. audience "" skips the aud check.
//
// hc (nil: a client with its own transport) makes the requests; JWKS fetches go through
// a limiter, so a flood of tokens naming unknown keys costs the issuer at
// most one JWKS request per 30 s.
func NewOIDCVerifier(ctx context.Context, hc *http.Client, issuerURL, audience string, opts ...VerifierOption) (Verifier, error) {
	if hc == nil {
		hc = newHTTPClient()
	}
	provider, err := discover(ctx, hc, issuerURL)
	if err != nil {
		return nil, err
	}
	return verifierFor(ctx, hc, provider, issuerURL, audience, opts...)
}

// discover fetches issuerURL's OpenID configuration.
func discover(ctx context.Context, hc *http.Client, issuerURL string) (*oidc.Provider, error) {
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, hc), issuerURL)
	if err != nil {
		return nil, fmt.Errorf("auth: discover OIDC issuer %s: %w", issuerURL, err)
	}
	return provider, nil
}

// verifierFor is NewOIDCVerifier for a discovered provider.
func verifierFor(ctx context.Context, hc *http.Client, provider *oidc.Provider, issuerURL, audience string, opts ...VerifierOption) (Verifier, error) {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return nil, fmt.Errorf("auth: OIDC issuer %s: discovery document has no jwks_uri", issuerURL)
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limited := &http.Client{Transport: &jwksLimiter{base: base, url: meta.JWKSURI, now: time.Now}, Timeout: hc.Timeout}
	// The key set keeps this context for its fetches: detach it from the
	// caller's cancellation, which ends when start-up does.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), limited), meta.JWKSURI)
	v := newVerifier(issuerURL, audience, keys, time.Now, defaultCacheSize)
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// newHTTPClient is the client for calls to an identity provider: its own
// transport, every call bounded.
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
}

func (v *oidcVerifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, errMissing()
	}
	if len(raw) > MaxTokenLen {
		return nil, errInvalid()
	}
	key := sha256.Sum256([]byte(raw))
	if p, ok := v.cache.get(key); ok {
		return v.live(p)
	}
	tok, err := v.v.Verify(ctx, raw)
	if err != nil {
		// go-oidc checks iss and aud before exp, so only an otherwise valid
		// token reads as expired.
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, errExpired()
		}
		return nil, errInvalid()
	}
	p, err := principalFromToken(tok, v.usernameClaim)
	if err != nil {
		return nil, errInvalid()
	}
	v.cache.put(key, p, tok.Expiry)
	return v.live(p)
}

// live returns a copy of p unless its session has ended.
func (v *oidcVerifier) live(p *Principal) (*Principal, error) {
	if v.ended != nil && p.Session != "" && v.ended(p.Session) {
		return nil, &Error{Code: CodeSessionEnded, Message: "this session has ended (signed out, upgraded, or its refresh token was used twice); sign in again"}
	}
	cp := *p
	return &cp, nil
}

// tokenClaims are the claims beyond the registered ones that jan reads. They
// match what Keycloak puts in an access token with jan's realm mappers.
type tokenClaims struct {
	Type              string          `json:"typ"`
	Session           string          `json:"sid"`
	PreferredUsername string          `json:"preferred_username"`
	Guest             json.RawMessage `json:"guest"` // true, or "true" from a string mapper
	Scope             string          `json:"scope"`
	RealmAccess       struct {
		Roles []string `json:"roles"`
	} `json:"realm_access"`
}

func principalFromToken(tok *oidc.IDToken, usernameClaim string) (*Principal, error) {
	if tok.Subject == "" {
		return nil, errors.New("no sub")
	}
	var c tokenClaims
	if err := tok.Claims(&c); err != nil {
		return nil, err
	}
	// Keycloak signs ID tokens ("ID") with the same key and audience; only
	// access tokens may be used as bearer tokens.
	if c.Type != "" && !strings.EqualFold(c.Type, "Bearer") {
		return nil, errors.New("not an access token")
	}
	// Only jan's roles become scopes: Keycloak adds profile, email,
	// offline_access and the like, which mean nothing here.
	var scopes []string
	for _, s := range append(strings.Fields(c.Scope), c.RealmAccess.Roles...) {
		if (s == ScopeGuest || s == ScopeUser || s == ScopeAdmin) && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	guest := slices.Contains(c.RealmAccess.Roles, ScopeGuest)
	switch strings.Trim(string(c.Guest), `"`) {
	case "true":
		guest = true
	case "false":
		guest = false
	}
	username := c.PreferredUsername
	if usernameClaim != "" && usernameClaim != "preferred_username" {
		var all map[string]any
		if err := tok.Claims(&all); err != nil {
			return nil, err
		}
		username, _ = all[usernameClaim].(string)
	}
	return &Principal{
		ID:         tok.Subject,
		Username:   username,
		Scopes:     scopes,
		IsGuest:    guest,
		AuthMethod: MethodJWT,
		Session:    c.Session,
	}, nil
}
