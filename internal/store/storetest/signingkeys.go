package storetest

import (
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

// testSigningKeys: one active key; a second active one conflicts (two
// replicas starting at once make one key between them).
func testSigningKeys(t *testing.T, st store.Store) {
	c := ctx(t)
	keys, err := st.SigningKeys(c)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("a new database has keys: %+v", keys)
	}
	first := &store.SigningKey{KID: "k1", PEM: "-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----\n"}
	must(t, st.AddSigningKey(c, first))
	fresh(t, "CreatedAt", first.CreatedAt)
	wantErr(t, "a second active key", st.AddSigningKey(c, &store.SigningKey{KID: "k2", PEM: "B"}), store.ErrConflict)
	wantErr(t, "the same kid again", st.AddSigningKey(c, &store.SigningKey{KID: "k1", PEM: "C"}), store.ErrConflict)
	keys, err = st.SigningKeys(c)
	must(t, err)
	if len(keys) != 1 || keys[0].KID != "k1" || keys[0].PEM != first.PEM || !keys[0].Active {
		t.Fatalf("keys = %+v", keys)
	}
	sameTime(t, "CreatedAt", keys[0].CreatedAt, first.CreatedAt)
}

// testRotateSigningKeys: a rotation retires the active key and adds the
// new one together; a second rotation from the same old key conflicts (two
// replicas rotating at once make one new key); retired keys are pruned by
// age, the active one never.
func testRotateSigningKeys(t *testing.T, st store.Store) {
	c := ctx(t)
	must(t, st.AddSigningKey(c, &store.SigningKey{KID: "k1", PEM: "A"}))
	next := &store.SigningKey{KID: "k2", PEM: "B"}
	must(t, st.RotateSigningKey(c, "k1", next))
	wantErr(t, "a second rotation from k1", st.RotateSigningKey(c, "k1", &store.SigningKey{KID: "k3", PEM: "C"}), store.ErrConflict)
	keys, err := st.SigningKeys(c)
	must(t, err)
	if len(keys) != 2 || keys[0].KID != "k2" || !keys[0].Active || keys[0].RetiredAt != nil ||
		keys[1].KID != "k1" || keys[1].Active || keys[1].RetiredAt == nil {
		t.Fatalf("after a rotation keys = %+v", keys)
	}
	sameTime(t, "RetiredAt", *keys[1].RetiredAt, next.CreatedAt)

	n, err := st.PruneSigningKeys(c, keys[1].RetiredAt.Add(-time.Second))
	must(t, err)
	if n != 0 {
		t.Fatalf("pruned %d keys retired after the cutoff", n)
	}
	n, err = st.PruneSigningKeys(c, time.Now().Add(time.Hour))
	must(t, err)
	keys, err = st.SigningKeys(c)
	must(t, err)
	if n != 1 || len(keys) != 1 || keys[0].KID != "k2" {
		t.Fatalf("pruned %d; keys = %+v", n, keys)
	}
}
