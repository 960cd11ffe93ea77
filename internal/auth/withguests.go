package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/janhq/jan/internal/store"
)

// WithGuests is an external issuer's identity (accounts are managed there)
// with guests from jan's own issuer beside it: jan up --issuer URL with
// guests on. Guest is the own issuer's; an upgrade is refused, since
// accounts live at the provider. A refresh token is the own issuer's if it
// knows it, else the provider's (when jan has a client there) — never sent
// there while the database cannot say whose it is. A token is
// verified by the issuer its iss claim names — read unverified only to
// pick the verifier, which then checks everything, the issuer included, so
// a token naming jan's issuer but signed by anyone else fails.
type WithGuests struct {
	External External
	Own      *Issuer
}

var _ IdentityProvider = WithGuests{}

func (w WithGuests) Guest(ctx context.Context) (*Tokens, *Account, error) { return w.Own.Guest(ctx) }

func (w WithGuests) Refresh(ctx context.Context, refreshToken string) (*Tokens, *Account, error) {
	t, a, foreign, err := w.Own.refresh(ctx, refreshToken)
	if foreign && w.External.Client != nil {
		return w.External.Client.Refresh(ctx, refreshToken) // not a guest's
	}
	return t, a, err
}

func (w WithGuests) Upgrade(context.Context, *Principal, Upgrade) (*Tokens, *Account, error) {
	return nil, nil, &Problem{Status: http.StatusBadRequest, Code: "accounts_external",
		Message: fmt.Sprintf("accounts are managed by %s: sign in there instead of upgrading a guest", w.External.Issuer)}
}

// Logout ends a guest's session, or revokes a provider's refresh token
// there: a guest's is never sent to the provider.
func (w WithGuests) Logout(ctx context.Context, refreshToken string) error {
	found, err := w.Own.endSession(ctx, refreshToken)
	if err != nil || found || w.External.Client == nil {
		return err
	}
	return w.External.Client.Logout(ctx, refreshToken)
}

// BrowserLogin is the sign-in at the provider; nil without a client there.
func (w WithGuests) BrowserLogin() BrowserLogin { return w.External.BrowserLogin() }

func (w WithGuests) Verifier() Verifier {
	return byIssuer{own: w.Own.URL(), ownV: w.Own.Verifier(), other: w.External.V}
}

// byIssuer sends a token to the verifier of the issuer it names.
type byIssuer struct {
	own         string
	ownV, other Verifier
}

func (b byIssuer) Verify(ctx context.Context, raw string) (*Principal, error) {
	if claimedIssuer(raw) == b.own {
		return b.ownV.Verify(ctx, raw)
	}
	p, err := b.other.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	// Both issuers' principals share one id space: the provider's subject
	// must not look like one of jan's own user ids, or it could be a guest.
	if strings.HasPrefix(p.ID, ownUserIDPrefix) {
		return nil, errInvalid()
	}
	return p, nil
}

// ownUserIDPrefix starts the ids jan's own issuer gives users.
const ownUserIDPrefix = store.PrefixUser + "_"

// claimedIssuer is the iss claim of a JWT, unverified; "" if there is none
// to read.
func claimedIssuer(raw string) string {
	var c struct {
		Iss string `json:"iss"`
	}
	UnverifiedClaims(raw, &c)
	return c.Iss
}

// UnverifiedClaims decodes a JWT's payload into v WITHOUT checking its
// signature — only to decide what to do with the token next (which
// verifier, which client), never to trust it. It reports whether raw had a
// payload to decode; tokens over MaxTokenLen are not read.
func UnverifiedClaims(raw string, v any) bool {
	if len(raw) > MaxTokenLen {
		return false
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	return err == nil && json.Unmarshal(payload, v) == nil
}
