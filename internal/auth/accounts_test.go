package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestUpgradeAndLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.iss.admins = []string{"root"}
	guestTokens, acct, err := f.iss.Guest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.iss.Verifier().Verify(ctx, guestTokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	up := Upgrade{Username: "alice", Email: "alice@example.com", Password: "correct horse 9"}

	bad := []struct {
		up   Upgrade
		code string
	}{
		{Upgrade{Email: "a@example.com", Password: "correct horse 9"}, "missing_field"},
		{Upgrade{Username: "a!", Email: "a@example.com", Password: "correct horse 9"}, "invalid_username"},
		{Upgrade{Username: "guest-x", Email: "a@example.com", Password: "correct horse 9"}, "invalid_username"},
		{Upgrade{Username: "alice", Email: "nope", Password: "correct horse 9"}, "invalid_email"},
		{Upgrade{Username: "alice", Email: "a@example.com", Password: "short1"}, "weak_password"},
		{Upgrade{Username: "alice", Email: "a@example.com", Password: "onlyletterslong"}, "weak_password"},
		{Upgrade{Username: "alice", Email: "a@example.com", Password: "aaaaaaaaa1"}, "weak_password"},
	}
	for _, b := range bad {
		_, _, err := f.iss.Upgrade(ctx, p, b.up)
		var pr *Problem
		if !errors.As(err, &pr) || pr.Status != 400 || pr.Code != b.code || pr.Param == "" {
			t.Errorf("%+v: %v, want 400 %s", b.up, err, b.code)
		}
	}

	tokens, got, err := f.iss.Upgrade(ctx, p, up)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != acct.ID || got.Guest || got.Username != "alice" {
		t.Errorf("account = %+v", got)
	}
	p2, err := f.iss.Verifier().Verify(ctx, tokens.AccessToken)
	if err != nil || p2.ID != acct.ID || p2.IsGuest || !slices.Equal(p2.Scopes, []string{"user"}) {
		t.Errorf("upgraded principal = %+v, %v", p2, err)
	}
	if _, _, err := f.iss.Refresh(ctx, guestTokens.RefreshToken); err == nil {
		t.Error("the guest's refresh token still works after the upgrade")
	}
	var pr *Problem
	if _, _, err := f.iss.Upgrade(ctx, p2, up); !errors.As(err, &pr) || pr.Status != 409 || pr.Code != "not_a_guest" {
		t.Errorf("second upgrade: %v", err)
	}
	// Another guest cannot take the name.
	g2, _, _ := f.iss.Guest(ctx)
	pg2, _ := f.iss.Verifier().Verify(ctx, g2.AccessToken)
	if _, _, err := f.iss.Upgrade(ctx, pg2, Upgrade{Username: "ALICE", Email: "b@example.com", Password: "correct horse 9"}); !errors.As(err, &pr) || pr.Code != "username_taken" {
		t.Errorf("taken username: %v", err)
	}
	if _, _, err := f.iss.Upgrade(ctx, pg2, Upgrade{Username: "bob", Email: "alice@example.com", Password: "correct horse 9"}); !errors.As(err, &pr) || pr.Status != 409 {
		t.Errorf("taken email: %v", err)
	}

	// Password login.
	if _, a, err := f.iss.Login(ctx, "alice", up.Password); err != nil || a.ID != acct.ID {
		t.Errorf("login: %+v %v", a, err)
	}
	var ae *Error
	for _, c := range [][2]string{{"alice", "wrong password 1"}, {"nobody", up.Password}, {g2.AccessToken, ""}} {
		if _, _, err := f.iss.Login(ctx, c[0], c[1]); !errors.As(err, &ae) {
			t.Errorf("login %q: %v, want an auth error", c[0], err)
		}
	}

	// An admin username gets the admin role once it is a user.
	g3, _, _ := f.iss.Guest(ctx)
	pg3, _ := f.iss.Verifier().Verify(ctx, g3.AccessToken)
	adminTokens, _, err := f.iss.Upgrade(ctx, pg3, Upgrade{Username: "root", Email: "root@example.com", Password: "correct horse 9"})
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := f.iss.Verifier().Verify(ctx, adminTokens.AccessToken)
	if !slices.Contains(pa.Scopes, ScopeAdmin) {
		t.Errorf("admin scopes = %v", pa.Scopes)
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := hashPassword("s3cret password")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashPassword("s3cret password")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !checkPassword(h, "s3cret password") || checkPassword(h, "s3cret passwore") || checkPassword("garbage", "x") {
		t.Error("checkPassword is wrong")
	}
}

// Password hashing runs n at a time with n more waiting; beyond that, or
// after the wait, callers get ErrBusy instead of piling up 19 MiB each.
func TestHashQueue(t *testing.T) {
	q := newHashQueue(1)
	q.maxWait = 200 * time.Millisecond
	ctx := context.Background()
	hold, held := make(chan struct{}), make(chan struct{})
	go q.do(ctx, func() { close(held); <-hold })
	<-held
	waited := make(chan error)
	go func() { waited <- q.do(ctx, func() {}) }()
	deadline := time.Now().Add(time.Second)
	for q.waiting.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := q.do(ctx, func() { t.Error("ran past a full queue") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("third caller: %v, want ErrBusy at once", err)
	}
	if err := <-waited; !errors.Is(err, ErrBusy) {
		t.Fatalf("a waiter past maxWait: %v, want ErrBusy", err)
	}
	go func() { waited <- q.do(ctx, func() {}) }()
	time.Sleep(20 * time.Millisecond)
	close(hold)
	if err := <-waited; err != nil {
		t.Fatalf("a waiter when the slot frees: %v", err)
	}
	if q.waiting.Load() != 0 || len(q.slots) != 0 {
		t.Fatalf("queue not empty after: waiting %d, busy %d", q.waiting.Load(), len(q.slots))
	}
}
