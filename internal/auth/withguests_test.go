package auth

import (
	"context"
	"path/filepath"
	"testing"
)

// WithGuests: guests from jan's own issuer and the provider's users both
// get in, each verified by its own issuer; a token that names jan's issuer
// but is signed by the provider's key does not; guests cannot be upgraded
// (accounts live at the provider); a guest's refresh token works.
func TestWithGuests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	provider, srv := servedIssuer(t)
	v, err := NewOIDCVerifier(ctx, nil, srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	own := newFixtureAt(t, "http://jan.test:8080", filepath.Join(t.TempDir(), "own.pem")) // its own, new key
	w := WithGuests{External: External{Issuer: srv.URL, V: v}, Own: own.iss}

	tok, acct, err := w.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil || !p.IsGuest || p.ID != acct.ID {
		t.Fatalf("a guest's token: %+v, %v", p, err)
	}
	fromProvider := provider.claims()
	fromProvider["sub"] = "3f1c0a52-9d1e-4c1b-a0a7-5b0d3c2e1f00"
	if p, err := w.Verifier().Verify(ctx, signJWT(t, provider.key(t), provider.kid(t), fromProvider)); err != nil || p.ID != fromProvider["sub"] || p.Username != "alice" {
		t.Fatalf("the provider's token: %+v, %v", p, err)
	}
	// A provider subject shaped like one of jan's user ids could be a guest's.
	lookalike := provider.claims()
	lookalike["sub"] = acct.ID
	if p, err := w.Verifier().Verify(ctx, signJWT(t, provider.key(t), provider.kid(t), lookalike)); authCode(err) != CodeInvalidToken {
		t.Fatalf("the provider's token for the subject %s: %+v, %v", acct.ID, p, err)
	}
	forged := provider.claims()
	forged["iss"] = own.iss.URL()
	if p, err := w.Verifier().Verify(ctx, signJWT(t, provider.key(t), provider.kid(t), forged)); authCode(err) != CodeInvalidToken {
		t.Fatalf("a token naming jan's issuer, signed by the provider: %+v, %v", p, err)
	}
	for _, raw := range []string{"", "not.a.jwt", "a.b", string(make([]byte, MaxTokenLen+1))} {
		if _, err := w.Verifier().Verify(ctx, raw); err == nil {
			t.Errorf("Verify(%.20q) passed", raw)
		}
	}
	if _, _, err := w.Upgrade(ctx, p, Upgrade{Username: "bob", Password: "correct horse battery"}); err == nil {
		t.Error("a guest was upgraded though accounts live at the provider")
	}
	if _, _, err := w.Refresh(ctx, tok.RefreshToken); err != nil {
		t.Errorf("a guest's refresh: %v", err)
	}
}
