package storetest

import (
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

// testLoginStates: a state is taken once; an expired one is not found,
// and expired ones are dropped when new ones come.
func testLoginStates(t *testing.T, st store.Store) {
	c := ctx(t)
	ls := &store.LoginState{StateHash: "h1", Verifier: "v1", RedirectURL: "http://127.0.0.1:5000/cb", QueryMode: true,
		ExpiresAt: time.Now().Add(10 * time.Minute).UTC().Truncate(time.Microsecond)}
	must(t, st.CreateLoginState(c, ls))
	wantErr(t, "a second state with the same hash", st.CreateLoginState(c, &store.LoginState{StateHash: "h1", ExpiresAt: ls.ExpiresAt}), store.ErrConflict)
	got, err := st.TakeLoginState(c, "h1")
	must(t, err)
	sameTime(t, "ExpiresAt", got.ExpiresAt, ls.ExpiresAt)
	got.ExpiresAt = ls.ExpiresAt
	equal(t, "TakeLoginState", got, ls)
	_, err = st.TakeLoginState(c, "h1")
	wantErr(t, "taking it again", err, store.ErrNotFound)
	_, err = st.TakeLoginState(c, "never")
	wantErr(t, "an unknown state", err, store.ErrNotFound)

	must(t, st.CreateLoginState(c, &store.LoginState{StateHash: "old", Verifier: "v", RedirectURL: "x", ExpiresAt: time.Now().Add(-time.Second)}))
	_, err = st.TakeLoginState(c, "old")
	wantErr(t, "an expired state", err, store.ErrNotFound)
	must(t, st.CreateLoginState(c, &store.LoginState{StateHash: "stale", Verifier: "v", RedirectURL: "x", ExpiresAt: time.Now().Add(-time.Second)}))
	must(t, st.CreateLoginState(c, &store.LoginState{StateHash: "new", Verifier: "v", RedirectURL: "x", ExpiresAt: time.Now().Add(time.Minute)}))
	// "stale" was dropped by the create of "new": it is not there to take, and its hash is free.
	must(t, st.CreateLoginState(c, &store.LoginState{StateHash: "stale", Verifier: "v2", RedirectURL: "x", ExpiresAt: time.Now().Add(time.Minute)}))
}
