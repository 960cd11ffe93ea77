package storetest

import (
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func testAPIKeys(t *testing.T, st store.Store) {
	c := ctx(t)
	a := &store.APIKey{UserID: "user_a", Username: "alice", Scopes: []string{"user"}, Name: "laptop", Prefix: "jan_abcd", Hash: "hash-a1"}
	must(t, st.CreateAPIKey(c, a))
	must(t, st.CreateAPIKey(c, &store.APIKey{UserID: "user_a", Name: "ci", Prefix: "jan_efgh", Hash: "hash-a2"}))
	must(t, st.CreateAPIKey(c, &store.APIKey{UserID: "user_b", Name: "b", Prefix: "jan_ijkl", Hash: "hash-b1"}))
	if a.ID == "" || a.CreatedAt.IsZero() {
		t.Fatalf("CreateAPIKey did not set ID/CreatedAt: %+v", a)
	}
	wantErr(t, "CreateAPIKey with a stored hash",
		st.CreateAPIKey(c, &store.APIKey{UserID: "user_b", Prefix: "x", Hash: "hash-a1"}), store.ErrConflict)

	keys, err := st.ListAPIKeys(c, "user_a")
	must(t, err)
	if len(keys) != 2 || keys[0].ID != a.ID || keys[0].Name != "laptop" || keys[1].Name != "ci" {
		t.Fatalf("ListAPIKeys(user_a) = %+v", keys)
	}
	if none, err := st.ListAPIKeys(c, "user_nobody"); err != nil || none == nil || len(none) != 0 {
		t.Errorf("ListAPIKeys of a user without keys = %v, %v; want an empty list", none, err)
	}

	got, err := st.APIKeyByHash(c, "hash-a1")
	must(t, err)
	if got.ID != a.ID || got.UserID != "user_a" || got.Username != "alice" || len(got.Scopes) != 1 || got.Scopes[0] != "user" || got.LastUsedAt != nil {
		t.Errorf("APIKeyByHash = %+v", got)
	}
	if got.ExpiresAt != nil {
		t.Errorf("a key made without an expiry expires at %v", got.ExpiresAt)
	}
	expiry := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	must(t, st.CreateAPIKey(c, &store.APIKey{UserID: "user_b", Name: "short", Prefix: "jan_mnop", Hash: "hash-b2", ExpiresAt: &expiry}))
	got, err = st.APIKeyByHash(c, "hash-b2")
	must(t, err)
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(expiry) {
		t.Errorf("ExpiresAt read back as %v, want %v", got.ExpiresAt, expiry)
	}
	_, err = st.APIKeyByHash(c, "nope")
	wantErr(t, "APIKeyByHash of an unknown hash", err, store.ErrNotFound)

	used := time.Now()
	must(t, st.TouchAPIKey(c, a.ID, used))
	got, err = st.APIKeyByHash(c, "hash-a1")
	must(t, err)
	if got.LastUsedAt == nil {
		t.Fatal("TouchAPIKey did not record the use")
	}
	sameTime(t, "LastUsedAt", *got.LastUsedAt, used.UTC().Truncate(time.Microsecond))

	wantErr(t, "DeleteAPIKey of another user's key", st.DeleteAPIKey(c, "user_b", a.ID), store.ErrNotFound)
	must(t, st.DeleteAPIKey(c, "user_a", a.ID))
	_, err = st.APIKeyByHash(c, "hash-a1")
	wantErr(t, "APIKeyByHash after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteAPIKey twice", st.DeleteAPIKey(c, "user_a", a.ID), store.ErrNotFound)
}

func testListUsers(t *testing.T, st store.Store) {
	c := ctx(t)
	var ids []string
	for i := 0; i < 5; i++ {
		u := &store.User{IsGuest: true}
		must(t, st.CreateUser(c, u))
		ids = append(ids, u.ID)
	}
	var seen []string
	after := ""
	for {
		page, more, err := st.ListUsers(c, 2, after)
		must(t, err)
		for _, u := range page {
			seen = append(seen, u.ID)
		}
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	// Other tests may add users to a shared database: ours appear in order.
	pos := map[string]int{}
	for i, id := range seen {
		pos[id] = i + 1
	}
	for i := range ids {
		if pos[ids[i]] == 0 || (i > 0 && pos[ids[i]] < pos[ids[i-1]]) {
			t.Fatalf("ListUsers pages = %v, want %v in this order", seen, ids)
		}
	}
	_, _, err := st.ListUsers(c, 2, "user_missing")
	wantErr(t, "ListUsers after an unknown id", err, store.ErrBadCursor)
}

func testIdempotencyPurge(t *testing.T, st store.Store) {
	c := ctx(t)
	principal := store.NewID(store.PrefixUser)
	rec := func(key string, age time.Duration, done bool) store.IdempotencyKey {
		r := &store.IdempotencyRecord{IdempotencyKey: store.IdempotencyKey{PrincipalID: principal, Method: "POST", Path: "/p", Key: key},
			BodyHash: "h", CreatedAt: time.Now().Add(-age)}
		live, err := st.BeginIdempotent(c, r)
		must(t, err)
		if live != nil {
			t.Fatalf("key %s already held", key)
		}
		if done {
			must(t, st.CompleteIdempotent(c, r.IdempotencyKey, 200, "application/json", []byte("{}")))
		}
		return r.IdempotencyKey
	}
	rec("old-done", store.IdempotencyTTL+time.Hour, true)
	rec("old-pending", store.IdempotencyPendingTTL+time.Minute, false)
	freshDone := rec("fresh-done", time.Minute, true)
	freshPending := rec("fresh-pending", time.Minute, false)
	n, err := st.PurgeIdempotency(c)
	must(t, err)
	if n < 2 {
		t.Errorf("PurgeIdempotency deleted %d records, want at least the 2 expired ones", n)
	}
	for _, k := range []store.IdempotencyKey{freshDone, freshPending} {
		live, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "h"})
		must(t, err)
		if live == nil {
			t.Errorf("purge removed the live record %s", k.Key)
		}
	}
}
