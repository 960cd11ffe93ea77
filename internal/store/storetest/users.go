package storetest

import (
	"errors"
	"fmt"
	"slices"
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
	now := time.Now()
	// A guest is created with its first token, in one transaction.
	guest := &store.User{IsGuest: true}
	first := &store.RefreshToken{Hash: "first", ExpiresAt: now.Add(time.Hour)}
	must(t, st.SignIn(c, guest, first))
	if guest.ID == "" || first.UserID != guest.ID || first.SessionID == "" {
		t.Fatalf("SignIn: guest %+v, token %+v", guest, first)
	}
	if _, err := st.GetUser(c, guest.ID); err != nil {
		t.Fatal(err)
	}
	// A taken hash fails the whole sign-in: no guest without a token.
	dup := &store.User{IsGuest: true}
	wantErr(t, "SignIn with a stored hash", st.SignIn(c, dup, &store.RefreshToken{Hash: "first", ExpiresAt: now.Add(time.Hour)}), store.ErrConflict)
	_, err := st.GetUser(c, dup.ID)
	wantErr(t, "the guest of a failed sign-in", err, store.ErrNotFound)
	wantErr(t, "SignIn for a missing user",
		st.SignIn(c, nil, &store.RefreshToken{Hash: "orphan", UserID: "user_missing", ExpiresAt: now.Add(time.Hour)}), store.ErrNotFound)

	// Rotation: each token works once and its successor joins the session.
	next := &store.RefreshToken{Hash: "second", ExpiresAt: now.Add(time.Hour)}
	got, err := st.RotateRefreshToken(c, "first", next)
	must(t, err)
	if got.Hash != "first" || got.UserID != guest.ID || got.RevokedAt == nil || got.SessionID != first.SessionID {
		t.Errorf("RotateRefreshToken(first) = %+v", got)
	}
	if next.UserID != guest.ID || next.SessionID != first.SessionID {
		t.Errorf("the successor %+v is not in the session %s", next, first.SessionID)
	}
	sameTime(t, "ExpiresAt", got.ExpiresAt, now.Add(time.Hour).Truncate(time.Microsecond))
	for _, hash := range []string{"unknown"} {
		_, err := st.RotateRefreshToken(c, hash, &store.RefreshToken{Hash: "x-" + hash, ExpiresAt: now.Add(time.Hour)})
		wantErr(t, "RotateRefreshToken("+hash+")", err, store.ErrNotFound)
	}

	// A replay of the spent token ends the session: the successor dies too,
	// and the session is listed as revoked.
	before := time.Now().Add(-time.Second)
	_, err = st.RotateRefreshToken(c, "first", &store.RefreshToken{Hash: "replayed", ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "a replayed refresh token", err, store.ErrTokenReused)
	_, err = st.RotateRefreshToken(c, "second", &store.RefreshToken{Hash: "third", ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "the successor of a replayed token", err, store.ErrTokenReused)
	revoked, err := st.RevokedSessions(c, before)
	must(t, err)
	if !slices.ContainsFunc(revoked, func(r store.RevokedSession) bool { return r.ID == first.SessionID }) {
		t.Errorf("RevokedSessions = %+v, want %s", revoked, first.SessionID)
	}

	// An expired token is just unknown.
	expiring := &store.RefreshToken{Hash: "expiring", ExpiresAt: now.Add(-time.Second)}
	must(t, st.SignIn(c, &store.User{IsGuest: true}, expiring))
	_, err = st.RotateRefreshToken(c, "expiring", &store.RefreshToken{Hash: "y", ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "an expired token", err, store.ErrNotFound)

	// Logout ends one session; RevokeSessions all of a user's, sparing others'.
	u := &store.User{Username: "sessions-user"}
	must(t, st.CreateUser(c, u))
	a := &store.RefreshToken{Hash: "a", UserID: u.ID, ExpiresAt: now.Add(time.Hour)}
	b := &store.RefreshToken{Hash: "b", UserID: u.ID, ExpiresAt: now.Add(time.Hour)}
	theirs := &store.RefreshToken{Hash: "theirs", ExpiresAt: now.Add(time.Hour)}
	must(t, st.SignIn(c, nil, a))
	must(t, st.SignIn(c, nil, b))
	must(t, st.SignIn(c, &store.User{IsGuest: true}, theirs))
	if a.SessionID == b.SessionID {
		t.Fatal("two sign-ins share a session")
	}
	must(t, st.EndSession(c, "a"))
	wantErr(t, "EndSession(unknown)", st.EndSession(c, "unknown"), store.ErrNotFound)
	_, err = st.RotateRefreshToken(c, "a", &store.RefreshToken{Hash: "a2", ExpiresAt: now.Add(time.Hour)})
	if err == nil {
		t.Error("a token of an ended session still rotates")
	}
	if _, err := st.RotateRefreshToken(c, "b", &store.RefreshToken{Hash: "b2", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Errorf("another session was ended too: %v", err)
	}
	must(t, st.RevokeSessions(c, u.ID))
	_, err = st.RotateRefreshToken(c, "b2", &store.RefreshToken{Hash: "b3", ExpiresAt: now.Add(time.Hour)})
	if err == nil {
		t.Error("a token survived RevokeSessions")
	}
	if _, err := st.RotateRefreshToken(c, "theirs", &store.RefreshToken{Hash: "theirs2", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Errorf("another user's session was ended too: %v", err)
	}
}

// testPurgeGuests: guests not active since the cut-off go with everything
// they own; active guests and users stay.
func testPurgeGuests(t *testing.T, st store.Store) {
	c := ctx(t)
	now := time.Now()
	stale := &store.User{IsGuest: true, CreatedAt: now.Add(-48 * time.Hour)}
	must(t, st.CreateUser(c, stale))
	active := &store.User{IsGuest: true, CreatedAt: now.Add(-48 * time.Hour)}
	must(t, st.CreateUser(c, active))
	must(t, st.SignIn(c, nil, &store.RefreshToken{Hash: "purge-active", UserID: active.ID, ExpiresAt: now.Add(time.Hour)}))
	user := &store.User{Username: "purge-user", CreatedAt: now.Add(-48 * time.Hour)}
	must(t, st.CreateUser(c, user))
	var convs, projects []string
	for _, u := range []*store.User{stale, active, user} {
		conv, _ := newConversation(t, st, u.ID, "hello")
		convs = append(convs, conv.ID)
		p := &store.Project{UserID: u.ID, Name: "p"}
		must(t, st.CreateProject(c, p))
		projects = append(projects, p.ID)
		must(t, st.CreateRun(c, &store.Run{ConversationID: conv.ID, UserID: u.ID}))
		_, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: store.IdempotencyKey{PrincipalID: u.ID, Method: "POST", Path: "/x", Key: "k"}})
		must(t, err)
	}
	n, err := st.PurgeGuests(c, now.Add(-24*time.Hour))
	must(t, err)
	if n != 1 {
		t.Fatalf("PurgeGuests = %d, want 1", n)
	}
	_, err = st.GetUser(c, stale.ID)
	wantErr(t, "the purged guest", err, store.ErrNotFound)
	_, err = st.GetConversation(c, stale.ID, convs[0])
	wantErr(t, "the purged guest's conversation", err, store.ErrNotFound)
	_, err = st.GetProject(c, stale.ID, projects[0])
	wantErr(t, "the purged guest's project", err, store.ErrNotFound)
	rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: store.IdempotencyKey{PrincipalID: stale.ID, Method: "POST", Path: "/x", Key: "k"}})
	must(t, err)
	if rec != nil {
		t.Error("the purged guest's idempotency record is still there")
	}
	for i, u := range []*store.User{active, user} {
		if _, err := st.GetUser(c, u.ID); err != nil {
			t.Errorf("%s was purged: %v", u.ID, err)
		}
		if _, err := st.GetConversation(c, u.ID, convs[i+1]); err != nil {
			t.Errorf("%s's conversation was purged: %v", u.ID, err)
		}
		if _, err := st.GetProject(c, u.ID, projects[i+1]); err != nil {
			t.Errorf("%s's project was purged: %v", u.ID, err)
		}
	}
}

// testRefreshTokenRace: a token raced by many refreshes works exactly once.
func testRefreshTokenRace(t *testing.T, st store.Store) {
	c := ctx(t)
	u := &store.User{IsGuest: true}
	must(t, st.SignIn(c, u, &store.RefreshToken{Hash: "raced", ExpiresAt: time.Now().Add(time.Hour)}))

	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		wg.Go(func() {
			<-start
			_, err := st.RotateRefreshToken(c, "raced", &store.RefreshToken{Hash: fmt.Sprintf("raced-%d", i), ExpiresAt: time.Now().Add(time.Hour)})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrTokenReused) && !isNotFound(err):
				t.Errorf("RotateRefreshToken: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of 20 concurrent uses of one refresh token succeeded, want exactly 1", n)
	}
}
