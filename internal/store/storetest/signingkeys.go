package storetest

import (
	"testing"

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
