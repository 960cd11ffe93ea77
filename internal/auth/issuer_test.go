package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func TestGuestTokensVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	tok, u, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Guest || u.ID == "" || !strings.HasPrefix(u.Username, "guest-") || len(u.Username) != len("guest-")+6 {
		t.Fatalf("guest user = %+v", u)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("tokens = %+v", tok)
	}

	p, err := f.iss.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{ID: u.ID, Username: u.Username, Scopes: []string{"guest"}, IsGuest: true, AuthMethod: "jwt"}
	if p.ID != want.ID || p.Username != want.Username || !slices.Equal(p.Scopes, want.Scopes) ||
		p.IsGuest != want.IsGuest || p.AuthMethod != want.AuthMethod {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}

	// Only the hash of the refresh token is stored.
	raw, err := base64.RawURLEncoding.DecodeString(tok.RefreshToken)
	if err != nil || len(raw) != 32 {
		t.Fatalf("refresh token is not 32 random bytes in base64url: %q", tok.RefreshToken)
	}
	if err := f.users.EndSession(ctx, tok.RefreshToken); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the raw refresh token is stored (EndSession: %v)", err)
	}
	if err := f.users.EndSession(ctx, hashRefreshToken(tok.RefreshToken)); err != nil {
		t.Fatalf("the refresh token's hash is not stored: %v", err)
	}
}

func TestGuestUsernamesAreDistinct(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seen := map[string]bool{}
	for range 50 {
		_, u, err := f.iss.Guest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if seen[u.Username] {
			t.Fatalf("username %s issued twice", u.Username)
		}
		seen[u.Username] = true
	}
}

func TestIssueForUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := &store.User{Username: "alice"}
	if err := f.users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tok, err := f.iss.Issue(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.iss.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != u.ID || p.Username != "alice" || p.IsGuest || !slices.Equal(p.Scopes, []string{"user"}) {
		t.Fatalf("principal = %+v", p)
	}
	if _, err := f.iss.Issue(ctx, &store.User{Username: "no-id"}); err == nil {
		t.Fatal("issued a token for a user without an id")
	}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first, u, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}

	second, u2, err := f.iss.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if u2.ID != u.ID || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("refresh gave user %+v tokens %+v", u2, second)
	}
	if p, err := f.iss.Verifier().Verify(ctx, second.AccessToken); err != nil || p.ID != u.ID {
		t.Fatalf("refreshed access token: %+v, %v", p, err)
	}

	if _, _, err := f.iss.Refresh(ctx, second.RefreshToken); err != nil {
		t.Fatalf("new refresh token: %v", err)
	}
	// Logging out with a token that is already used or unknown is not an error.
	if err := f.iss.Logout(ctx, first.RefreshToken); err != nil {
		t.Fatalf("Revoke(used token) = %v", err)
	}
}

func TestRefreshReflectsUpgrade(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tok, u, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The server upgrades the account in the store; a refresh then mints
	// non-guest tokens for the same id.
	if err := f.users.UpdateUser(ctx, &store.User{ID: u.ID, Username: "bob"}); err != nil {
		t.Fatal(err)
	}

	next, _, err := f.iss.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.iss.Verifier().Verify(ctx, next.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != u.ID || p.IsGuest || p.Username != "bob" || !slices.Equal(p.Scopes, []string{"user"}) {
		t.Fatalf("principal after upgrade = %+v", p)
	}
}

func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(f *fixture, refresh string) string // returns the token to present
		code    string
	}{
		{"empty", func(*fixture, string) string { return "" }, CodeMissingToken},
		{"unknown", func(*fixture, string) string { return "bm90LWEtdG9rZW4" }, CodeInvalidToken},
		{"access token instead", func(f *fixture, _ string) string {
			tok, _, _ := f.iss.Guest(ctx)
			return tok.AccessToken
		}, CodeInvalidToken},
		{"expired", func(f *fixture, r string) string {
			f.clock.Advance(30*24*time.Hour + time.Second)
			return r
		}, CodeInvalidToken},
		{"revoked by logout", func(f *fixture, r string) string {
			if err := f.iss.Logout(ctx, r); err != nil {
				panic(err)
			}
			return r
		}, CodeInvalidToken},
		{"user deleted", func(f *fixture, r string) string {
			if _, err := f.users.PurgeGuests(ctx, f.clock.Now().Add(time.Hour)); err != nil {
				panic(err)
			}
			return r
		}, CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok, _, err := f.iss.Guest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.iss.Refresh(ctx, tt.prepare(f, tok.RefreshToken))
			if authCode(err) != tt.code {
				t.Fatalf("Refresh error = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestRefreshStoreErrorIsNotAnAuthError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.iss.users = unavailableUsers{f.users}
	_, _, err := f.iss.Refresh(context.Background(), "whatever")
	if !errors.Is(err, store.ErrUnavailable) || authCode(err) != "" {
		t.Fatalf("Refresh with the database down = %v, want store.ErrUnavailable", err)
	}
}

type unavailableUsers struct{ UserStore }

func (unavailableUsers) RotateRefreshToken(context.Context, string, *store.RefreshToken) (*store.RefreshToken, error) {
	return nil, store.ErrUnavailable
}

func TestRefreshConcurrentDoubleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tok, _, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for k := range n {
		wg.Go(func() { _, _, errs[k] = f.iss.Refresh(ctx, tok.RefreshToken) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case authCode(err) != CodeInvalidToken:
			t.Errorf("loser got %v, want invalid_token", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", won, n)
	}
}

func TestAccessTokenExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tok, _, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := f.iss.Verifier()
	steps := []struct {
		advance time.Duration
		code    string
	}{
		{0, ""},
		{59 * time.Minute, ""}, // still valid (and now cached)
		{time.Minute + ClockSkew + time.Second, CodeExpiredToken}, // past exp and the skew allowance: the cache must not answer
		{time.Hour, CodeExpiredToken},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		_, err := v.Verify(ctx, tok.AccessToken)
		if authCode(err) != s.code {
			t.Fatalf("at %v: Verify = %v, want code %q", f.clock.Now(), err, s.code)
		}
	}
}

// Ending a session refuses its access tokens before they expire: at once
// on the process that ended it, within revocationPoll on another replica
// sharing the store.
func TestEndedSessionsRefuseAccessTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	replica, err := NewIssuer(IssuerOptions{URL: testURL, KeyFile: f.keyFile, Now: f.clock.Now}, f.users)
	if err != nil {
		t.Fatal(err)
	}
	verifyBoth := func(what, access, code string) {
		t.Helper()
		for name, v := range map[string]Verifier{"here": f.iss.Verifier(), "replica": replica.Verifier()} {
			if _, err := v.Verify(ctx, access); authCode(err) != code {
				t.Errorf("%s, %s: Verify = %v, want code %q", what, name, err, code)
			}
		}
	}

	// Logout.
	tok, _, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verifyBoth("before logout", tok.AccessToken, "")
	if err := f.iss.Logout(ctx, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.iss.Verifier().Verify(ctx, tok.AccessToken); authCode(err) != CodeSessionEnded {
		t.Fatalf("right after logout: %v, want session_ended", err)
	}
	f.clock.Advance(revocationPoll)
	verifyBoth("after logout", tok.AccessToken, CodeSessionEnded)

	// A spent refresh token used again ends the session its successor is in.
	tok, _, err = f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := f.iss.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	verifyBoth("the successor", next.AccessToken, "")
	if _, _, err := f.iss.Refresh(ctx, tok.RefreshToken); authCode(err) != CodeInvalidToken {
		t.Fatalf("replaying a spent refresh token: %v", err)
	}
	if _, _, err := f.iss.Refresh(ctx, next.RefreshToken); authCode(err) != CodeInvalidToken {
		t.Fatalf("the successor's refresh token after a replay: %v", err)
	}
	f.clock.Advance(revocationPoll)
	verifyBoth("the successor after a replay", next.AccessToken, CodeSessionEnded)

	// An upgrade ends the guest's sessions; the new tokens work.
	tok, _, err = f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.iss.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	up, _, err := f.iss.Upgrade(ctx, p, Upgrade{Username: "dana", Email: "dana@example.com", Password: "a long passphrase 1"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(revocationPoll)
	verifyBoth("the guest's token after the upgrade", tok.AccessToken, CodeSessionEnded)
	verifyBoth("the upgraded user's token", up.AccessToken, "")
}
