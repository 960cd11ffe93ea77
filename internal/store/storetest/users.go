package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func testUsers(t *testing.T, st store.Store) {
	c := ctx(t)
	alice := &store.User{Username: "alice", Email: "alice@example.com", PasswordHash: "hash"}
	must(t, st.CreateUser(c, alice))
	wantPrefix(t, "user id", alice.ID, store.PrefixUser)
	fresh(t, "user CreatedAt", alice.CreatedAt)

	got, err := st.GetUser(c, alice.ID)
	must(t, err)
	sameTime(t, "CreatedAt", got.CreatedAt, alice.CreatedAt)
	got.CreatedAt = alice.CreatedAt
	equal(t, "GetUser", got, alice)

	// Guests have neither username nor email; any number of them may exist.
	for range 2 {
		g := &store.User{IsGuest: true}
		must(t, st.CreateUser(c, g))
		got, err := st.GetUser(c, g.ID)
		must(t, err)
		if !got.IsGuest || got.Username != "" || got.Email != "" {
			t.Errorf("guest read back as %+v", got)
		}
	}

	conflicts := []struct {
		name string
		user store.User
	}{
		{"same username", store.User{Username: "alice"}},
		{"username differing in case", store.User{Username: "ALICE"}},
		{"same email", store.User{Username: "alice2", Email: "alice@example.com"}},
		{"email differing in case", store.User{Email: "Alice@Example.com"}},
		{"same id", store.User{ID: alice.ID}},
	}
	for _, tc := range conflicts {
		wantErr(t, tc.name, st.CreateUser(c, &tc.user), store.ErrConflict)
	}

	_, err = st.GetUser(c, "user_missing")
	wantErr(t, "GetUser of a missing id", err, store.ErrNotFound)
}

func testAccounts(t *testing.T, st store.Store) {
	c := ctx(t)
	must(t, st.CreateUser(c, &store.User{Username: "Carol", PasswordHash: "h1"}))
	guest := &store.User{IsGuest: true}
	must(t, st.CreateUser(c, guest))

	got, err := st.GetUserByUsername(c, "carol")
	must(t, err)
	if got.Username != "Carol" || got.PasswordHash != "h1" {
		t.Errorf("GetUserByUsername(carol) = %+v", got)
	}
	for _, name := range []string{"", "nobody"} {
		_, err := st.GetUserByUsername(c, name)
		wantErr(t, "GetUserByUsername("+name+")", err, store.ErrNotFound)
	}

	// Upgrading a guest keeps its id, so its conversations stay its own.
	up := &store.User{ID: guest.ID, Username: "dave", Email: "dave@example.com", PasswordHash: "h2"}
	must(t, st.UpdateUser(c, up))
	got, err = st.GetUserByUsername(c, "DAVE")
	must(t, err)
	if got.ID != guest.ID || got.IsGuest || got.Email != "dave@example.com" || got.PasswordHash != "h2" {
		t.Errorf("upgraded guest read back as %+v", got)
	}
	sameTime(t, "CreatedAt kept by UpdateUser", got.CreatedAt, guest.CreatedAt)

	wantErr(t, "UpdateUser to a taken username",
		st.UpdateUser(c, &store.User{ID: guest.ID, Username: "carol"}), store.ErrConflict)
	wantErr(t, "UpdateUser of a missing user",
		st.UpdateUser(c, &store.User{ID: "user_missing", Username: "erin"}), store.ErrNotFound)
}

func testRefreshTokens(t *testing.T, st store.Store) {
	c := ctx(t)
	u := &store.User{IsGuest: true}
	must(t, st.CreateUser(c, u))
	now := time.Now()
	revoked := now.Add(-time.Minute)
	for _, tok := range []*store.RefreshToken{
		{Hash: "live", UserID: u.ID, ExpiresAt: now.Add(time.Hour)},
		{Hash: "expired", UserID: u.ID, ExpiresAt: now.Add(-time.Second)},
		{Hash: "revoked", UserID: u.ID, ExpiresAt: now.Add(time.Hour), RevokedAt: &revoked},
	} {
		must(t, st.SaveRefreshToken(c, tok))
	}

	got, err := st.UseRefreshToken(c, "live")
	must(t, err)
	if got.Hash != "live" || got.UserID != u.ID || got.RevokedAt == nil {
		t.Errorf("UseRefreshToken(live) = %+v", got)
	} else {
		fresh(t, "RevokedAt", *got.RevokedAt)
	}
	sameTime(t, "ExpiresAt", got.ExpiresAt, now.Add(time.Hour).Truncate(time.Microsecond))

	for _, hash := range []string{"live" /* second use */, "expired", "revoked", "unknown"} {
		_, err := st.UseRefreshToken(c, hash)
		wantErr(t, "UseRefreshToken("+hash+")", err, store.ErrNotFound)
	}

	wantErr(t, "SaveRefreshToken with a stored hash",
		st.SaveRefreshToken(c, &store.RefreshToken{Hash: "live", UserID: u.ID, ExpiresAt: now.Add(time.Hour)}),
		store.ErrConflict)
	// Revoking all of a user's tokens (a guest that upgraded) spares others'.
	other := &store.User{IsGuest: true}
	must(t, st.CreateUser(c, other))
	for _, tok := range []*store.RefreshToken{
		{Hash: "mine-1", UserID: u.ID, ExpiresAt: now.Add(time.Hour)},
		{Hash: "mine-2", UserID: u.ID, ExpiresAt: now.Add(time.Hour)},
		{Hash: "theirs", UserID: other.ID, ExpiresAt: now.Add(time.Hour)},
	} {
		must(t, st.SaveRefreshToken(c, tok))
	}
	must(t, st.RevokeRefreshTokens(c, u.ID))
	for _, hash := range []string{"mine-1", "mine-2"} {
		_, err := st.UseRefreshToken(c, hash)
		wantErr(t, "UseRefreshToken("+hash+") after RevokeRefreshTokens", err, store.ErrNotFound)
	}
	if _, err := st.UseRefreshToken(c, "theirs"); err != nil {
		t.Errorf("another user's token was revoked too: %v", err)
	}

	wantErr(t, "SaveRefreshToken for a missing user",
		st.SaveRefreshToken(c, &store.RefreshToken{Hash: "orphan", UserID: "user_missing", ExpiresAt: now.Add(time.Hour)}),
		store.ErrNotFound)
}

// testRefreshTokenRace: a token raced by many refreshes works exactly once.
func testRefreshTokenRace(t *testing.T, st store.Store) {
	c := ctx(t)
	u := &store.User{IsGuest: true}
	must(t, st.CreateUser(c, u))
	must(t, st.SaveRefreshToken(c, &store.RefreshToken{Hash: "raced", UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}))

	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			_, err := st.UseRefreshToken(c, "raced")
			switch {
			case err == nil:
				wins.Add(1)
			case !isNotFound(err):
				t.Errorf("UseRefreshToken: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of 20 concurrent uses of one refresh token succeeded, want exactly 1", n)
	}
}
